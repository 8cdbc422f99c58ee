#!/bin/sh
# One database per Hanse service, owned by POSTGRES_USER (runs once, on an empty data volume).
set -eu
for service in marketing sales compliance finance logistics procurement gateway; do
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
        -c "CREATE DATABASE \"hanse_${service}\" OWNER \"${POSTGRES_USER}\""
done

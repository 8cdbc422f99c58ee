"""Alembic migrations of the gateway database; apply with `hanse migrate gateway`."""

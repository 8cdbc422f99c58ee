"""Alembic migrations of the finance database; apply with `hanse migrate finance`."""

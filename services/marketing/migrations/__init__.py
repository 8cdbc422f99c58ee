"""Alembic migrations of the marketing database; apply with `hanse migrate marketing`."""

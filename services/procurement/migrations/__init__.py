"""Alembic migrations of the procurement database; apply with `hanse migrate finance`."""

"""Alembic migrations of the logistics database; apply with `hanse migrate logistics`."""

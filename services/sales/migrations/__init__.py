"""Alembic migrations of the sales database; apply with `hanse migrate sales`."""

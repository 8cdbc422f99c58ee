"""Alembic migrations of the compliance database; apply with `hanse migrate compliance`."""

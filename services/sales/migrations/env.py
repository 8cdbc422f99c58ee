"""Alembic environment of the sales database: the shared logic is in hanse.migrate."""

from hanse.migrate import run_environment

run_environment("sales")

"""Alembic environment of the logistics database: the shared logic is in hanse.migrate."""

from hanse.migrate import run_environment

run_environment("logistics")

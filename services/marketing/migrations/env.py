"""Alembic environment of the marketing database: the shared logic is in hanse.migrate."""

from hanse.migrate import run_environment

run_environment("marketing")

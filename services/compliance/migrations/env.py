"""Alembic environment of the compliance database: the shared logic is in hanse.migrate."""

from hanse.migrate import run_environment

run_environment("compliance")

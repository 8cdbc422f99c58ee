"""Alembic environment of the gateway database: the shared logic is in hanse.migrations."""

from gateway.models import Model
from hanse.migrations import run_environment

run_environment("gateway", Model.metadata)

"""Alembic environment of the logistics database: the shared logic is in hanse.migrations."""

from hanse.migrations import run_environment
from services.logistics.models import Model

run_environment("logistics", Model.metadata)

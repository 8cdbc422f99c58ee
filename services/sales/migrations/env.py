"""Alembic environment of the sales database: the shared logic is in hanse.migrations."""

from hanse.migrations import run_environment
from services.sales.models import Model

run_environment("sales", Model.metadata)

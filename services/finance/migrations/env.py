"""Alembic environment of the finance database: the shared logic is in hanse.migrations."""

from hanse.migrations import run_environment
from services.finance.models import Model

run_environment("finance", Model.metadata)

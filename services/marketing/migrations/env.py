"""Alembic environment of the marketing database: the shared logic is in hanse.migrations."""

from hanse.migrations import run_environment
from services.marketing.models import Model

run_environment("marketing", Model.metadata)

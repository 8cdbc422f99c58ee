"""Alembic environment of the procurement database: the shared logic is in hanse.migrations."""

from hanse.migrations import run_environment
from services.procurement.models import Model

run_environment("procurement", Model.metadata)

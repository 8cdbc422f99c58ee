"""Alembic environment of the compliance database: the shared logic is in hanse.migrations."""

from hanse.migrations import run_environment
from services.compliance.models import Model

run_environment("compliance", Model.metadata)

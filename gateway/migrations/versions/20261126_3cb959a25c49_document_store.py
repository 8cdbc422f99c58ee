"""document store

Revision ID: 3cb959a25c49
Revises: 7938fa779bb6
Create Date: 2026-11-26 17:50:00.000000
"""

from collections.abc import Sequence

from hanse import migrations

revision: str = "3cb959a25c49"
down_revision: str | None = "7938fa779bb6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    migrations.create_document_store()  # the kernel's table: one frozen definition for every service


def downgrade() -> None:
    migrations.drop_document_store()

"""document store

Revision ID: 5b1f7af8bf80
Revises: 97f9f53af002
Create Date: 2026-11-26 17:50:00.000000
"""

from collections.abc import Sequence

from hanse import migrations

revision: str = "5b1f7af8bf80"
down_revision: str | None = "97f9f53af002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    migrations.create_document_store()  # the kernel's table: one frozen definition for every service


def downgrade() -> None:
    migrations.drop_document_store()

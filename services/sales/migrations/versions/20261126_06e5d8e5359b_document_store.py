"""document store

Revision ID: 06e5d8e5359b
Revises: 4a54d4ef1f47
Create Date: 2026-11-26 17:50:00.000000
"""

from collections.abc import Sequence

from hanse import migrations

revision: str = "06e5d8e5359b"
down_revision: str | None = "4a54d4ef1f47"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    migrations.create_document_store()  # the kernel's table: one frozen definition for every service


def downgrade() -> None:
    migrations.drop_document_store()

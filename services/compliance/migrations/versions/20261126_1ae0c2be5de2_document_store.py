"""document store

Revision ID: 1ae0c2be5de2
Revises: ae6a2bca1c5e
Create Date: 2026-11-26 17:50:00.000000
"""

from collections.abc import Sequence

from hanse import migrations

revision: str = "1ae0c2be5de2"
down_revision: str | None = "ae6a2bca1c5e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    migrations.create_document_store()  # the kernel's table: one frozen definition for every service


def downgrade() -> None:
    migrations.drop_document_store()

"""document store

Revision ID: 31cb2c6b87ce
Revises: 11a85bbb0d85
Create Date: 2026-11-26 17:50:00.000000
"""

from collections.abc import Sequence

from hanse import migrations

revision: str = "31cb2c6b87ce"
down_revision: str | None = "11a85bbb0d85"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    migrations.create_document_store()  # the kernel's table: one frozen definition for every service


def downgrade() -> None:
    migrations.drop_document_store()

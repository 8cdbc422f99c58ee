"""mail outbox

Revision ID: 97f9f53af002
Revises: 29580ed822be
Create Date: 2026-11-26 16:07:14.144746
"""

from collections.abc import Sequence

from hanse import migrations

revision: str = "97f9f53af002"
down_revision: str | None = "29580ed822be"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    migrations.create_mail_outbox()  # the kernel's tables: one frozen definition for every service


def downgrade() -> None:
    migrations.drop_mail_outbox()

"""mail outbox

Revision ID: ae6a2bca1c5e
Revises: 07b3495f408e
Create Date: 2026-11-26 16:07:10.091856
"""

from collections.abc import Sequence

from hanse import migrations

revision: str = "ae6a2bca1c5e"
down_revision: str | None = "07b3495f408e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    migrations.create_mail_outbox()  # the kernel's tables: one frozen definition for every service


def downgrade() -> None:
    migrations.drop_mail_outbox()

"""mail outbox

Revision ID: 7938fa779bb6
Revises: db389e25fd3d
Create Date: 2026-11-26 16:07:16.326262
"""

from collections.abc import Sequence

from hanse import migrations

revision: str = "7938fa779bb6"
down_revision: str | None = "db389e25fd3d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    migrations.create_mail_outbox()  # the kernel's tables: one frozen definition for every service


def downgrade() -> None:
    migrations.drop_mail_outbox()

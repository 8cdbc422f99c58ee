"""mail outbox

Revision ID: 76a107bf6482
Revises: 1c10425e5384
Create Date: 2026-11-26 16:07:11.944135
"""

from collections.abc import Sequence

from hanse import migrations

revision: str = "76a107bf6482"
down_revision: str | None = "1c10425e5384"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    migrations.create_mail_outbox()  # the kernel's tables: one frozen definition for every service


def downgrade() -> None:
    migrations.drop_mail_outbox()

"""mail outbox

Revision ID: 11a85bbb0d85
Revises: 8dc9daa78cd0
Create Date: 2026-11-26 16:07:06.143619
"""

from collections.abc import Sequence

from hanse import migrations

revision: str = "11a85bbb0d85"
down_revision: str | None = "8dc9daa78cd0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    migrations.create_mail_outbox()  # the kernel's tables: one frozen definition for every service


def downgrade() -> None:
    migrations.drop_mail_outbox()

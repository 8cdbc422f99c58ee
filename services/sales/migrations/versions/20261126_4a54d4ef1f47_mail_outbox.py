"""mail outbox

Revision ID: 4a54d4ef1f47
Revises: 53b866bd2acf
Create Date: 2026-11-26 16:07:08.164002
"""

from collections.abc import Sequence

from hanse import migrations

revision: str = "4a54d4ef1f47"
down_revision: str | None = "53b866bd2acf"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    migrations.create_mail_outbox()  # the kernel's tables: one frozen definition for every service


def downgrade() -> None:
    migrations.drop_mail_outbox()

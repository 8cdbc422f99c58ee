"""subscribers newsletters nurture seo scoring

Revision ID: 669be8098b1a
Revises: 31cb2c6b87ce
Create Date: 2026-11-26 17:40:16.427736
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import hanse.db

revision: str = "669be8098b1a"
down_revision: str | None = "31cb2c6b87ce"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cancelled_order",
        sa.Column("order_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("cancelled_at", hanse.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("order_id"),
    )
    op.create_table(
        "credited_note",
        sa.Column("credit_note_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("order_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("amount_base", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("base_currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("issued_at", hanse.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("credit_note_id"),
    )
    with op.batch_alter_table("credited_note", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_credited_note_order_id"), ["order_id"], unique=False)

    op.create_table(
        "newsletter",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("campaign_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("subject", sa.JSON(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("cursor", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("created_at", hanse.db.UTCDateTime(), nullable=False),
        sa.Column("send_requested_at", hanse.db.UTCDateTime(), nullable=True),
        sa.Column("fanned_out_at", hanse.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("newsletter", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_newsletter_campaign_id"), ["campaign_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_newsletter_status"), ["status"], unique=False)

    op.create_table(
        "product",
        sa.Column("sku", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("created_at", hanse.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sku"),
    )
    op.create_table(
        "seo_metadata",
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
        sa.Column("slug", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("sku", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("language", sqlmodel.sql.sqltypes.AutoString(length=35), nullable=False),
        sa.Column("updated_at", hanse.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sku", "language"),
        sa.UniqueConstraint("language", "slug", name="uq_seo_metadata_language_slug"),
    )
    op.create_table(
        "sequence_step",
        sa.Column("campaign_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("after_days", sa.Integer(), nullable=False),
        sa.Column("subject", sa.JSON(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", "position"),
    )
    op.create_table(
        "subscriber",
        sa.Column("language", sqlmodel.sql.sqltypes.AutoString(length=35), nullable=True),
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("email_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("consent_text_version", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("consent_wording", sa.Text(), nullable=False),
        sa.Column("consent_source", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("consented_at", hanse.db.UTCDateTime(), nullable=False),
        sa.Column("confirm_nonce", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("confirmed_at", hanse.db.UTCDateTime(), nullable=True),
        sa.Column("unsubscribed_at", hanse.db.UTCDateTime(), nullable=True),
        sa.Column("created_at", hanse.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
    )
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subscriber_email_key"), ["email_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_subscriber_status"), ["status"], unique=False)

    op.create_table(
        "suppression",
        sa.Column("email_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("created_at", hanse.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("email_key"),
    )
    with op.batch_alter_table("lead", schema=None) as batch_op:
        batch_op.add_column(sa.Column("score", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("score_reasons", sa.JSON(), server_default="[]", nullable=False))
        batch_op.add_column(sa.Column("qualified_at", hanse.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("nurture_step", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("nurture_due_at", hanse.db.UTCDateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_lead_nurture_due_at"), ["nurture_due_at"], unique=False)


def downgrade() -> None:
    # ### commands auto generated by Alembic - please adjust! ###
    with op.batch_alter_table("lead", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lead_nurture_due_at"))
        batch_op.drop_column("nurture_due_at")
        batch_op.drop_column("nurture_step")
        batch_op.drop_column("qualified_at")
        batch_op.drop_column("score_reasons")
        batch_op.drop_column("score")

    op.drop_table("suppression")
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subscriber_status"))
        batch_op.drop_index(batch_op.f("ix_subscriber_email_key"))

    op.drop_table("subscriber")
    op.drop_table("sequence_step")
    op.drop_table("seo_metadata")
    op.drop_table("product")
    with op.batch_alter_table("newsletter", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_newsletter_status"))
        batch_op.drop_index(batch_op.f("ix_newsletter_campaign_id"))

    op.drop_table("newsletter")
    with op.batch_alter_table("credited_note", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credited_note_order_id"))

    op.drop_table("credited_note")
    op.drop_table("cancelled_order")
    # ### end Alembic commands ###

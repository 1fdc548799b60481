"""ministry scale: normalised email, persisted direct conversations, indexes for set-based reads

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email_norm", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("direct_conversation", sa.String(length=255), nullable=True))
        batch_op.create_index(batch_op.f("ix_people_email_norm"), ["email_norm"], unique=False)
    op.execute("UPDATE people SET email_norm = lower(trim(email)) WHERE email IS NOT NULL")
    with op.batch_alter_table("participation_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_participation_campaign_kind", ["campaign_id", "kind", "person_id"], unique=False
        )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_index("ix_deliveries_due")
        batch_op.create_index(
            "ix_deliveries_due",
            ["status", "to_conversation", "next_attempt_at", "id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_due")
        batch_op.create_index("ix_deliveries_due", ["status", "next_attempt_at"], unique=False)
        batch_op.drop_column("claimed_at")
    with op.batch_alter_table("participation_events", schema=None) as batch_op:
        batch_op.drop_index("ix_participation_campaign_kind")
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_people_email_norm"))
        batch_op.drop_column("direct_conversation")
        batch_op.drop_column("email_norm")

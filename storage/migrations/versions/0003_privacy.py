"""privacy: campaigns unique per service and code, erasure tombstones, the keyed-hash secret,
list audiences stored as person ids

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_campaigns_code"), type_="unique")
        batch_op.create_unique_constraint("uq_campaigns_service_code", ["service_id", "code"])
    op.create_table(
        "erasures",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_erasures")),
    )
    op.create_table(
        "privacy_keys",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_privacy_keys")),
    )
    _lists_to_person_ids()


def _lists_to_person_ids() -> None:
    """List audiences named people by platform id: keep only known people, by internal id."""
    bind = op.get_bind()
    campaigns = sa.table(
        "campaigns",
        sa.column("id", sa.Integer),
        sa.column("audience_kind", sa.String),
        sa.column("audience_value", sa.Text),
    )
    people = sa.table("people", sa.column("id", sa.Integer), sa.column("platform_id", sa.String))
    rows = bind.execute(
        sa.select(campaigns.c.id, campaigns.c.audience_value).where(
            campaigns.c.audience_kind == "list"
        )
    ).all()
    for campaign_id, value in rows:
        ids = [item for item in (value or "").split(",") if item and not item.startswith("#")]
        known = dict(
            bind.execute(
                sa.select(people.c.platform_id, people.c.id).where(people.c.platform_id.in_(ids))
            ).all()
        )
        kept = [f"#{known[item]}" for item in ids if item in known]
        bind.execute(
            sa.update(campaigns)
            .where(campaigns.c.id == campaign_id)
            .values(audience_value=",".join(kept))
        )


def downgrade() -> None:
    op.drop_table("privacy_keys")
    op.drop_table("erasures")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_constraint("uq_campaigns_service_code", type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_campaigns_code"), ["code"])

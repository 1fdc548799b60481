"""unanswered questions keep a keyed hash of their asker (erased with them, never shown)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("questions") as batch:
        batch.add_column(sa.Column("asker_digest", sa.String(length=64), nullable=True))
        batch.create_index(op.f("ix_questions_asker_digest"), ["asker_digest"])


def downgrade() -> None:
    with op.batch_alter_table("questions") as batch:
        batch.drop_index(op.f("ix_questions_asker_digest"))
        batch.drop_column("asker_digest")

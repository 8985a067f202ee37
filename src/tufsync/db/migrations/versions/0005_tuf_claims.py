"""TUF claims: target paths a queued publish or removal task will touch.

Revision ID: 0005_tuf_claims
Revises: 0004_registry_flags_tokens
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_tuf_claims"
down_revision = "0004_registry_flags_tokens"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tuf_claims",
        sa.Column("tuf_path", sa.String(512), primary_key=True),
        sa.Column("task_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_tuf_claims_task_id", "tuf_claims", ["task_id"])


def downgrade() -> None:
    op.drop_table("tuf_claims")

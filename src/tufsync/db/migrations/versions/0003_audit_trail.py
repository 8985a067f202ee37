"""Audit trail: one row per change to a repository's trust.

Revision ID: 0003_audit_trail
Revises: 0002_username_nocase
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_audit_trail"
down_revision = "0002_username_nocase"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column(
            "owner_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("app", sa.String(64), nullable=False),
        sa.Column("event", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("task_id", sa.String(64), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_audit_events_owner_app_id", "audit_events", ["owner_id", "app", "id"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_owner_app_id", table_name="audit_events")
    op.drop_table("audit_events")

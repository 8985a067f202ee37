"""Artifacts awaiting the signatures of an offline role's key holders: the role whose
draft lists them (NULL when none does).

Revision ID: 0008_tuf_awaiting
Revises: 0007_tenant_usage
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_tuf_awaiting"
down_revision = "0007_tenant_usage"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("artifacts") as batch:
        batch.add_column(sa.Column("tuf_awaiting", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("artifacts") as batch:
        batch.drop_column("tuf_awaiting")

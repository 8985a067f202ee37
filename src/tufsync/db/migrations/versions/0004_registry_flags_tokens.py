"""faynoSync's registry fields: app flags, version intermediate flag, catalogues,
API tokens, and the per-account token generation of login tokens.

Revision ID: 0004_registry_flags_tokens
Revises: 0003_audit_trail
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0004_registry_flags_tokens"
down_revision = "0003_audit_trail"
branch_labels = None
depends_on = None

_FALSE = sa.false()


def upgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.add_column(sa.Column("logo", sa.String(1024), nullable=False, server_default=""))
        for flag in ("private", "tuf", "reports", "cdn_edge"):
            batch.add_column(sa.Column(flag, sa.Boolean(), nullable=False, server_default=_FALSE))
    with op.batch_alter_table("versions") as batch:
        batch.add_column(
            sa.Column("intermediate", sa.Boolean(), nullable=False, server_default=_FALSE)
        )
    with op.batch_alter_table("artifacts") as batch:
        batch.add_column(sa.Column("tuf_task_id", sa.String(36), nullable=True))
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("token_generation", sa.String(64), nullable=False, server_default="")
        )
    users = sa.table("users", sa.column("id", sa.Integer()), sa.column("token_generation"))
    conn = op.get_bind()
    for (user_id,) in conn.execute(sa.select(users.c.id)).all():
        conn.execute(
            users.update()
            .where(users.c.id == user_id)
            .values(token_generation=secrets.token_hex(16))
        )
    op.create_table(
        "catalog_items",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "owner_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("updaters", sa.JSON(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("owner_id", "kind", "name", name="uq_catalog_owner_kind_name"),
    )
    op.create_index("ix_catalog_items_owner_id", "catalog_items", ["owner_id"])
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "owner_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("token_prefix", sa.String(16), nullable=False),
        sa.Column("allowed_apps", sa.JSON(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_api_tokens_owner_id", "api_tokens", ["owner_id"])


def downgrade() -> None:
    op.drop_table("api_tokens")
    op.drop_table("catalog_items")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("token_generation")
    with op.batch_alter_table("artifacts") as batch:
        batch.drop_column("tuf_task_id")
    with op.batch_alter_table("versions") as batch:
        batch.drop_column("intermediate")
    with op.batch_alter_table("apps") as batch:
        for column in ("cdn_edge", "reports", "tuf", "private", "logo"):
            batch.drop_column(column)

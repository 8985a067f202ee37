"""Tenant usage: the bytes of artifacts each admin has stored, for the storage quota.

``tenant_usage.stored_bytes`` is the sum of the lengths of the owner's artifacts,
kept by triggers so every writer (this service, another process, an operator's
SQL) keeps it true and an upload reads it with one primary-key lookup instead of
summing every artifact (README "Limits"). An artifact's insert adds its length
and its delete subtracts it, found through its version and app. Deleting a
version or an app subtracts what it still holds *before* the row goes: the
foreign-key cascade that follows deletes the children after their parent, so
their own triggers no longer find an owner and subtract nothing twice. An
account's usage row goes with the account.

Revision ID: 0007_tenant_usage
Revises: 0006_auth_epoch
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_tenant_usage"
down_revision = "0006_auth_epoch"
branch_labels = None
depends_on = None

OWNER_OF_VERSION = (
    "(SELECT a.owner_id FROM versions v JOIN apps a ON a.id = v.app_id WHERE v.id = {})"
)
BYTES_OF_VERSION = "(SELECT COALESCE(SUM(length), 0) FROM artifacts WHERE version_id = {})"
BYTES_OF_APP = (
    "(SELECT COALESCE(SUM(r.length), 0) FROM artifacts r JOIN versions v "
    "ON v.id = r.version_id WHERE v.app_id = {})"
)
ADD = (
    "INSERT INTO tenant_usage (owner_id, stored_bytes) "
    "SELECT a.owner_id, {length} FROM versions v JOIN apps a ON a.id = v.app_id "
    "WHERE v.id = {version} "
    "ON CONFLICT (owner_id) DO UPDATE SET "
    "stored_bytes = tenant_usage.stored_bytes + excluded.stored_bytes"
)
SUBTRACT = "UPDATE tenant_usage SET stored_bytes = stored_bytes - {amount} WHERE owner_id = {owner}"

# (trigger name, timing and event, body with the dialect's name for the row: NEW/OLD)
TRIGGERS = (
    (
        "tenant_usage_artifact_ins",
        "AFTER INSERT ON artifacts",
        ADD.format(length="NEW.length", version="NEW.version_id"),
    ),
    (
        "tenant_usage_artifact_del",
        "AFTER DELETE ON artifacts",
        SUBTRACT.format(amount="OLD.length", owner=OWNER_OF_VERSION.format("OLD.version_id")),
    ),
    (
        "tenant_usage_version_del",
        "BEFORE DELETE ON versions",
        SUBTRACT.format(
            amount=BYTES_OF_VERSION.format("OLD.id"),
            owner="(SELECT owner_id FROM apps WHERE id = OLD.app_id)",
        ),
    ),
    (
        "tenant_usage_app_del",
        "BEFORE DELETE ON apps",
        SUBTRACT.format(amount=BYTES_OF_APP.format("OLD.id"), owner="OLD.owner_id"),
    ),
)


def _sqlite_triggers() -> None:
    for name, when, body in TRIGGERS:
        op.execute(f"CREATE TRIGGER {name} {when} FOR EACH ROW BEGIN {body}; END")


def _postgres_triggers() -> None:
    for name, when, body in TRIGGERS:
        # A BEFORE trigger must return the row for the delete to go on.
        result = "OLD" if when.startswith("BEFORE") else "NULL"
        op.execute(
            f"CREATE FUNCTION {name}() RETURNS trigger AS $$ "
            f"BEGIN {body}; RETURN {result}; END $$ LANGUAGE plpgsql"
        )
        op.execute(f"CREATE TRIGGER {name} {when} FOR EACH ROW EXECUTE FUNCTION {name}()")


def upgrade() -> None:
    op.create_table(
        "tenant_usage",
        sa.Column(
            "owner_id",
            sa.Integer(),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("stored_bytes", sa.BigInteger(), nullable=False),
    )
    op.execute(
        "INSERT INTO tenant_usage (owner_id, stored_bytes) "
        "SELECT a.owner_id, SUM(r.length) FROM artifacts r "
        "JOIN versions v ON v.id = r.version_id JOIN apps a ON a.id = v.app_id "
        "GROUP BY a.owner_id"
    )
    make_triggers = _postgres_triggers if _on_postgres() else _sqlite_triggers
    make_triggers()


def _on_postgres() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def downgrade() -> None:
    # PostgreSQL triggers belong to their table and call a function of the same name.
    drops = (
        [f"DROP TRIGGER IF EXISTS {name} ON {when.split(' ON ')[1]}" for name, when, _ in TRIGGERS]
        + [f"DROP FUNCTION IF EXISTS {name}()" for name, _, _ in TRIGGERS]
        if _on_postgres()
        else [f"DROP TRIGGER IF EXISTS {name}" for name, _, _ in TRIGGERS]
    )
    for statement in drops:
        op.execute(statement)
    op.drop_table("tenant_usage")

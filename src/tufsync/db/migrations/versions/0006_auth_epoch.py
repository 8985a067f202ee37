"""Auth epoch: a counter every change to who may sign in moves, for the auth cache.

Triggers move the epoch whenever an account is deleted or its name,
password or token generation changes, an API token is deleted or its scope,
expiry or secret changes, or an app is deleted or renamed (API tokens name apps
by id). They fire for every writer: this service, another process, or an
operator's SQL. On SQLite they bump ``auth_epoch.value``, which each request reads
(one local read); on PostgreSQL they send ``NOTIFY tufsync_auth`` (delivered at
commit, no row lock taken) so every API process drops its cached answers
(``tufsync.auth.epoch``).

Revision ID: 0006_auth_epoch
Revises: 0005_tuf_claims
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_auth_epoch"
down_revision = "0005_tuf_claims"
branch_labels = None
depends_on = None

# (table, event clause) whose changes move the epoch; last_used_at writes do not.
WATCHED = (
    ("users", "DELETE", "del"),
    ("users", "UPDATE OF username, password_hash, token_generation", "upd"),
    ("api_tokens", "DELETE", "del"),
    ("api_tokens", "UPDATE OF token_hash, owner_id, allowed_apps, expires_at", "upd"),
    ("apps", "DELETE", "del"),
    ("apps", "UPDATE OF name, owner_id", "upd"),
)


def _sqlite_triggers() -> None:
    for table, event, tag in WATCHED:
        op.execute(
            f"CREATE TRIGGER auth_epoch_{table}_{tag} AFTER {event} ON {table} "
            "BEGIN UPDATE auth_epoch SET value = value + 1 WHERE id = 1; END"
        )


def _postgres_triggers() -> None:
    op.execute(
        "CREATE FUNCTION tufsync_auth_epoch_bump() RETURNS trigger AS $$ "
        "BEGIN PERFORM pg_notify('tufsync_auth', ''); RETURN NULL; END $$ LANGUAGE plpgsql"
    )
    for table, event, tag in WATCHED:
        op.execute(
            f"CREATE TRIGGER auth_epoch_{table}_{tag} AFTER {event} ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION tufsync_auth_epoch_bump()"
        )


def upgrade() -> None:
    op.create_table(
        "auth_epoch",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("value", sa.BigInteger(), nullable=False),
    )
    op.execute("INSERT INTO auth_epoch (id, value) VALUES (1, 0)")
    if op.get_bind().dialect.name == "postgresql":
        _postgres_triggers()
    else:
        _sqlite_triggers()


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, _event, tag in WATCHED:
        on = f" ON {table}" if postgres else ""
        op.execute(f"DROP TRIGGER IF EXISTS auth_epoch_{table}_{tag}{on}")
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS tufsync_auth_epoch_bump()")
    op.drop_table("auth_epoch")

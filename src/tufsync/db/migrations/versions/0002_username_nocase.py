"""Usernames unique regardless of case: a unique index on lower(username).

Two accounts whose names differ only in case would share key folders and
storage prefixes on case-insensitive storage (docs/api.md §1). When such accounts
already exist, the migration stops and names them: each is a tenant with its
own repositories, so which one to keep is the operator's decision, never a
silent merge, rename or deletion.

Revision ID: 0002_username_nocase
Revises: 0001
"""

from collections import defaultdict

import sqlalchemy as sa
from alembic import op

revision = "0002_username_nocase"
down_revision = "0001"
branch_labels = None
depends_on = None

INDEX = "uq_users_username_lower"


def case_clashes(usernames: list[str]) -> list[list[str]]:
    """Groups of usernames that differ only in case."""
    groups: dict[str, list[str]] = defaultdict(list)
    for name in usernames:
        groups[name.lower()].append(name)
    return [sorted(names) for names in groups.values() if len(names) > 1]


def upgrade() -> None:
    usernames = list(op.get_bind().execute(sa.text("SELECT username FROM users")).scalars())
    clashes = case_clashes(usernames)
    if clashes:
        listed = "; ".join(", ".join(repr(n) for n in names) for names in clashes)
        raise RuntimeError(
            "usernames must be unique regardless of case, but these accounts differ only in "
            f"case: {listed}. Each is a separate tenant; delete all but one account of each "
            "group (or rename it in the users table and move its key folder and storage "
            "prefix), then run `tufsync db upgrade` again."
        )
    op.create_index(INDEX, "users", [sa.text("lower(username)")], unique=True)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="users")

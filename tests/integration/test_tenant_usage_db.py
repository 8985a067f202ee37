"""The storage quota's count (``tenant_usage``, migration 0007) on SQLite and PostgreSQL.

Triggers keep each admin's stored bytes equal to the sum of their artifacts'
lengths however rows go: inserts, deletes of single artifacts, a version or an
app deleted with its children by the ORM or by the database's cascade, an
account deleted, and backfilled for artifacts that existed before the migration.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tufsync.db import engine as db_engine
from tufsync.db import queries
from tufsync.db.models import App, Artifact, User, Version

SUM = text(
    "SELECT COALESCE(SUM(r.length), 0) FROM artifacts r JOIN versions v ON v.id = r.version_id "
    "JOIN apps a ON a.id = v.app_id WHERE a.owner_id = :owner"
)


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'usage.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    made = db_engine.make_engine(url)
    yield made
    await made.dispose()


async def migrate(engine: AsyncEngine, revision: str) -> None:
    def _run(connection: Connection) -> None:
        command.upgrade(db_engine._alembic_config(connection), revision)

    async with engine.begin() as conn:
        await conn.run_sync(_run)


def version(app_id: str, name: str, lengths: list[int]) -> Version:
    return Version(
        id=queries.new_id(),
        app_id=app_id,
        version=name,
        channel="",
        changelog=[],
        artifacts=[
            Artifact(
                platform="",
                arch="",
                package=".bin",
                length=length,
                sha256="a" * 64,
                sha512="b" * 128,
                tuf_path=f"{queries.new_id()}/{name}-{i}.bin",
            )
            for i, length in enumerate(lengths)
        ],
    )


async def counts(sessions: async_sessionmaker[AsyncSession], owner: int) -> tuple[int, int]:
    async with sessions() as session:
        counted = await session.scalar(SUM, {"owner": owner})
        conn = await session.connection()
        kept = await conn.run_sync(queries.stored_bytes, owner)
    return int(counted or 0), kept


async def test_usage_follows_every_insert_and_delete(engine: AsyncEngine) -> None:
    await migrate(engine, "0006_auth_epoch")
    sessions = db_engine.make_sessionmaker(engine)
    async with sessions.begin() as session:
        alice, bob = (
            User(username="alice", password_hash="h"),
            User(username="bob", password_hash="h"),
        )
        session.add_all([alice, bob])
        await session.flush()
        before = App(id=queries.new_id(), owner_id=alice.id, name="before")
        session.add(before)
        await session.flush()
        old = version(before.id, "0.1", [])
        session.add(old)
        await session.flush()
        for i, length in enumerate((7, 8)):  # the artifacts table as of 0006, not the model's
            await session.execute(
                text(
                    "INSERT INTO artifacts (version_id, platform, arch, package, length, "
                    "sha256, sha512, tuf_path, tuf_signed) VALUES (:v, '', '', '.bin', :n, "
                    ":h, :h2, :p, :f)"
                ),
                {
                    "v": old.id,
                    "n": length,
                    "h": "a" * 64,
                    "h2": "b" * 128,
                    "f": False,
                    "p": f"{queries.new_id()}/0.1-{i}.bin",
                },
            )
    await migrate(engine, "head")
    assert await counts(sessions, alice.id) == (15, 15)  # backfilled

    async with sessions.begin() as session:
        app = App(id=queries.new_id(), owner_id=alice.id, name="app")
        other = App(id=queries.new_id(), owner_id=bob.id, name="app")
        session.add_all([app, other])
        await session.flush()
        kept_ids = []
        for name, lengths in (("1.0", [100, 200]), ("2.0", [1000]), ("3.0", [5, 5, 5])):
            row = version(app.id, name, lengths)
            session.add(row)
            kept_ids.append(row)
        session.add(version(other.id, "1.0", [50]))
    assert await counts(sessions, alice.id) == (1330, 1330)
    assert await counts(sessions, bob.id) == (50, 50)

    async with sessions.begin() as session:  # one artifact, as /artifact/delete does
        await session.execute(text("DELETE FROM artifacts WHERE length = 200"))
    assert await counts(sessions, alice.id) == (1130, 1130)
    async with sessions.begin() as session:  # a version by the database's cascade
        await session.execute(text("DELETE FROM versions WHERE id = :id"), {"id": kept_ids[1].id})
    assert await counts(sessions, alice.id) == (130, 130)
    async with sessions.begin() as session:  # an app by the cascade: versions, artifacts
        await session.execute(text("DELETE FROM apps WHERE id = :id"), {"id": before.id})
    assert await counts(sessions, alice.id) == (115, 115)
    async with sessions.begin() as session:  # the ORM, children first
        doomed = await queries.versions_of_app(session, app.id)
        for row in doomed:
            await session.delete(row)
        await session.delete(await session.get(App, app.id))
    assert await counts(sessions, alice.id) == (0, 0)
    assert await counts(sessions, bob.id) == (50, 50)
    async with sessions.begin() as session:  # the account: its usage row goes too
        await session.execute(text("DELETE FROM users WHERE id = :id"), {"id": bob.id})
    async with sessions() as session:
        left = await session.scalar(
            text("SELECT COUNT(*) FROM tenant_usage WHERE owner_id = :o"), {"o": bob.id}
        )
    assert left == 0

"""Registry models, migrations and queries on SQLite and on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tufsync.db import engine as db_engine
from tufsync.db import queries
from tufsync.db.models import App, Artifact, User, Version


@pytest.fixture(params=["sqlite", "postgresql"])
async def sessions(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'registry.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    engine = db_engine.make_engine(url)
    await db_engine.upgrade(engine)
    assert not await db_engine.pending_migrations(engine)
    yield db_engine.make_sessionmaker(engine)
    await engine.dispose()


def artifact(path: str, platform: str = "linux", signed: bool = False) -> Artifact:
    return Artifact(
        platform=platform,
        arch="x64",
        package=".deb",
        length=1,
        sha256="a" * 64,
        sha512="b" * 128,
        tuf_path=path,
        tuf_signed=signed,
    )


async def test_registry_queries(sessions: async_sessionmaker[AsyncSession]) -> None:
    suffix = queries.new_id()[:8]
    async with sessions.begin() as session:
        alice = User(username=f"alice{suffix}", password_hash="h")
        bob = User(username=f"bob{suffix}", password_hash="h")
        session.add_all([alice, bob])
        await session.flush()
        app = App(id=queries.new_id(), owner_id=alice.id, name="tool")
        session.add(app)
        await session.flush()
        v1 = Version(
            id=queries.new_id(), app_id=app.id, version="1.0", channel="default", changelog=[]
        )
        v1.artifacts = [
            artifact(f"tool-{suffix}/a.deb"),
            artifact(f"tool-{suffix}/b.dmg", "darwin"),
        ]
        v2 = Version(
            id=queries.new_id(),
            app_id=app.id,
            version="2.0",
            channel="beta",
            changelog=[],
            published=True,
        )
        v2.artifacts = [artifact(f"tool-{suffix}/c.deb")]
        session.add_all([v1, v2])
    async with sessions() as session:
        assert await queries.get_user(session, f"alice{suffix}") is not None
        assert [a.name for a in await queries.list_apps(session, alice.id)] == ["tool"]
        assert await queries.list_apps(session, bob.id) == []
        found = await queries.get_version(session, alice.id, v1.id)
        assert found is not None and found.artifacts[0].tuf_path.endswith("a.deb")
        assert await queries.get_version(session, bob.id, v1.id) is None
        darwin, total = await queries.search_versions(
            session,
            alice.id,
            app_names=None,
            filters=queries.VersionFilters(app_name="tool", platform="darwin"),
            page=1,
            limit=10,
        )
        assert [v.version for v in darwin] == ["1.0"] and total == 1
        published, total = await queries.search_versions(
            session,
            alice.id,
            app_names=None,
            filters=queries.VersionFilters(published=True),
            page=1,
            limit=10,
        )
        assert [v.version for v in published] == ["2.0"] and total == 1
        scoped, total = await queries.search_versions(
            session,
            alice.id,
            app_names=frozenset({"other"}),
            filters=queries.VersionFilters(),
            page=1,
            limit=10,
        )
        assert scoped == [] and total == 0
        paged, total = await queries.search_versions(
            session,
            alice.id,
            app_names=None,
            filters=queries.VersionFilters(),
            page=2,
            limit=1,
        )
        assert len(paged) == 1 and total == 2
    async with sessions.begin() as session:
        await queries.mark_signed(session, {f"tool-{suffix}/a.deb": ("a" * 64, True)}, "t-1")
        await queries.mark_signed(session, {f"tool-{suffix}/b.dmg": ("wrong", True)})
    async with sessions() as session:
        a = await queries.get_artifact_by_path(session, f"tool-{suffix}/a.deb")
        b = await queries.get_artifact_by_path(session, f"tool-{suffix}/b.dmg")
        assert a is not None and a.tuf_signed and b is not None and not b.tuf_signed
        assert a.tuf_task_id == "t-1" and b.tuf_task_id is None


async def test_constraints(sessions: async_sessionmaker[AsyncSession]) -> None:
    suffix = queries.new_id()[:8]
    async with sessions.begin() as session:
        user = User(username=f"carol{suffix}", password_hash="h")
        session.add(user)
        await session.flush()
        session.add(App(id=queries.new_id(), owner_id=user.id, name="dup"))
    with pytest.raises(IntegrityError):
        async with sessions.begin() as session:
            session.add(App(id=queries.new_id(), owner_id=user.id, name="dup"))
    with pytest.raises(IntegrityError):
        async with sessions.begin() as session:
            session.add(User(username=f"carol{suffix}", password_hash="h"))

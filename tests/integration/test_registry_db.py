"""Registry models, migrations and queries on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.scaleout import _admin as pg_admin
from tufsync import tenant_keys
from tufsync.db import engine as db_engine
from tufsync.db import queries
from tufsync.db.models import App, Artifact, User, Version
from tufsync.db.transactions import run_in_session
from tufsync.registry.service import RegistryError, UploadMeta, upload_artifacts
from tufsync.state.sqlite import SqliteStateStore
from tufsync.storage.objects import open_store
from tufsync.tuf.keys import OnlineKeyStore
from tufsync.tuf.metastore import MetadataCache
from tufsync.tuf.repository import Engine


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
        signed = [
            (f"tool-{suffix}/a.deb", "a" * 64, "t-1"),
            (f"tool-{suffix}/b.dmg", "wrong", "t-2"),
        ]
        await run_in_session(session, queries.mark_signed, signed)
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


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_migration_0004_keeps_existing_rows(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Data written under 0001 upgrades: flags default to false, every account gets its
    own token generation (so login tokens issued before are refused: they carry none)."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    else:  # a database of its own: the session's pg_url is already at head
        name = f"tufsync_mig_{uuid.uuid4().hex[:10]}"
        pg_admin(f'CREATE DATABASE "{name}"')
        request.addfinalizer(lambda: pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    engine = db_engine.make_engine(url)

    def to_0001(connection: Connection) -> None:
        command.upgrade(db_engine._alembic_config(connection), "0001")

    async with engine.begin() as conn:
        await conn.run_sync(to_0001)
        for name in ("old_one", "old_two"):
            await conn.execute(
                text("INSERT INTO users (username, password_hash) VALUES (:u, 'h')"), {"u": name}
            )
        user_id = (
            await conn.execute(text("SELECT id FROM users WHERE username='old_one'"))
        ).scalar()
        await conn.execute(
            text("INSERT INTO apps (id, owner_id, name, description) VALUES ('a1', :o, 'app', '')"),
            {"o": user_id},
        )
    await db_engine.upgrade(engine)
    assert not await db_engine.pending_migrations(engine)
    sessions = db_engine.make_sessionmaker(engine)
    async with sessions() as session:
        users = [await queries.get_user(session, n) for n in ("old_one", "old_two")]
        generations = {u.token_generation for u in users if u is not None}
        assert len(generations) == 2 and all(len(g) == 32 for g in generations)
        app = await queries.get_app(session, int(user_id or 0), "app")
        assert app is not None
        assert (app.tuf, app.private, app.reports, app.cdn_edge, app.logo) == (
            False,
            False,
            False,
            False,
            "",
        )
    await engine.dispose()


class _Bytes:
    """An uploaded file part (what ``upload_artifacts`` reads)."""

    def __init__(self, filename: str, data: bytes) -> None:
        self.filename = filename
        self._data = io.BytesIO(data)

    async def read(self, size: int = -1) -> bytes:
        return self._data.read(size)


async def test_upload_rows_on_both_databases(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """The upload's Core statements on SQLite and PostgreSQL: app, version
    and catalogue rows are created once, flags only rise, the changelog grows, an
    identical re-upload is accepted, different bytes or a claimed path get 409, and
    nothing stays in staging."""
    suffix = queries.new_id()[:8]
    admin = f"up{suffix}"
    async with sessions.begin() as session:
        user = User(username=admin, password_hash="h")
        session.add(user)
        await session.flush()
        owner = user.id
    state = await SqliteStateStore.open(str(tmp_path / "state.db"))
    storage = open_store(f"file://{tmp_path / 'objects'}")
    services = SimpleNamespace(
        db=sessions.kw["bind"],
        transactions=db_engine.make_transactions(sessions.kw["bind"]),
        sessions=sessions,
        state=state,
        storage=storage,
        settings=SimpleNamespace(
            max_upload_bytes=1024 * 1024, tenant_quota_bytes=0, disk_reserve_bytes=0
        ),
        # Uploads ask the TUF engine whether a path is listed (none is, here).
        tuf=Engine(storage, state, OnlineKeyStore(tmp_path / "keys"), MetadataCache()),
    )

    def meta(**kw: Any) -> UploadMeta:
        base: dict[str, Any] = {
            "app_name": "tool",
            "version": "1.0",
            "channel": "stable",
            "platform": "linux",
            "arch": "x64",
            "publish": False,
            "critical": False,
            "changelog": "first",
        }
        return UploadMeta(**{**base, **kw})

    async def upload(m: UploadMeta, name: str, data: bytes) -> str:
        return await upload_artifacts(
            services,  # type: ignore[arg-type]
            owner,
            admin,
            m,
            [_Bytes(name, data)],
        )

    try:
        first = await upload(meta(), "a.bin", b"one")
        second = await upload(meta(publish=True, changelog="second"), "a.deb", b"two")
        assert second == first
        assert await upload(meta(changelog=""), "a.bin", b"one") == first  # same bytes
        with pytest.raises(RegistryError) as conflict:
            await upload(meta(changelog=""), "a.bin", b"other")
        assert conflict.value.status == 409 and "different content" in str(conflict.value)
        other = await upload(meta(version="2.0", critical=True, changelog=""), "b.bin", b"3")
        assert other != first
        async with sessions() as session:
            version = await queries.get_version(session, owner, first)
            assert version is not None
            assert (version.published, version.critical) == (True, False)
            assert [e["Changes"] for e in version.changelog] == ["first", "second"]
            assert sorted(a.package for a in version.artifacts) == [".bin", ".deb"]
            assert version.artifacts[0].sha256 == hashlib.sha256(b"one").hexdigest()
            assert version.artifacts[0].sha512 == hashlib.sha512(b"one").hexdigest()
            newer = await queries.get_version(session, owner, other)
            assert newer is not None and newer.critical and not newer.published
            assert [a.name for a in await queries.list_apps(session, owner)] == ["tool"]
            for kind, name in (("channel", "stable"), ("platform", "linux"), ("arch", "x64")):
                assert [c.name for c in await queries.list_catalog(session, owner, kind)] == [name]
            path = version.artifacts[0].tuf_path
        assert await storage.get(path) == b"one"
        async with sessions.begin() as session:
            await run_in_session(session, queries.insert_claims, [path], "task-1")
        with pytest.raises(RegistryError) as claimed:
            await upload(meta(changelog=""), "a.bin", b"one")
        assert claimed.value.status == 409 and "task-1" in str(claimed.value)
        assert await storage.list(tenant_keys.STAGING_PREFIX) == []
    finally:
        await services.transactions.dispose()
        await state.close()

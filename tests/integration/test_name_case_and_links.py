"""Names that only differ in case, and links in the online key folder (docs/api.md §1, §5.1).

- Usernames are unique regardless of case: signup of ``Alice`` when ``alice``
  exists → 409 (enforced by a unique index on lower(username), added by a
  migration that refuses to run over existing case duplicates); login takes the
  exact name.
- Online key files are opened without following links out of the tenant's
  folder: a link to another tenant's key (file or folder) is "not available".
"""

from __future__ import annotations

import copy
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.scaleout import _admin
from tests.support import (
    PASSWORD,
    SIGNUP_KEY,
    Api,
    ServerProcess,
    ceremony,
    resign,
    unique_name,
)
from tufsync.db import engine as db_engine


def test_usernames_are_unique_regardless_of_case(server: ServerProcess) -> None:
    http = httpx.Client(base_url=server.url, timeout=30)
    name = unique_name("case")
    body = {"username": name, "password": PASSWORD, "api_key": SIGNUP_KEY}
    assert http.post("/signup", json=body).status_code == 200
    for variant in (name.capitalize(), name.upper()):
        response = http.post("/signup", json={**body, "username": variant})
        assert response.status_code == 409, response.text
        assert "regardless of case" in response.json()["error"]
    # Login takes the exact name: another spelling is not an account.
    assert http.post("/login", json={"username": name, "password": PASSWORD}).status_code == 200
    wrong_case = http.post("/login", json={"username": name.upper(), "password": PASSWORD})
    assert wrong_case.status_code == 401


@pytest.mark.parametrize("link", ["file", "folder"])
def test_key_files_are_not_read_through_links(api: Api, server: ServerProcess, link: str) -> None:
    """Tenant B's folder holds a link to tenant A's online key: B may not sign with it."""
    victim = Api(server, unique_name("victim"))
    cer = ceremony(server.key_dir, victim.username, "linked")
    victim.bootstrap_ok(cer.payload)
    source = server.key_dir / victim.username / "linked"
    target = server.key_dir / api.username / "linked"
    if link == "file":
        target.mkdir(parents=True)
        os.symlink(source / f"{cer.online_keyid}.pem", target / f"{cer.online_keyid}.pem")
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(source, target, target_is_directory=True)
    # B's root names A's online key for B's online roles (B's own root key signs it).
    own = ceremony(server.key_dir, api.username, "other")
    payload = copy.deepcopy(own.payload)
    payload["appName"] = "linked"
    signed = payload["metadata"]["root"]["signed"]
    signed["keys"].pop(own.online_keyid)
    signed["keys"][cer.online_keyid] = copy.deepcopy(
        cer.payload["metadata"]["root"]["signed"]["keys"][cer.online_keyid]
    )
    for role in ("timestamp", "snapshot", "targets"):
        signed["roles"][role]["keyids"] = [cer.online_keyid]
    payload["metadata"]["root"] = resign(payload["metadata"]["root"], own.root_signers)
    response = api.post("/tuf/v1/bootstrap", json=payload)
    assert response.status_code == 400, response.text
    assert "not available to the server" in response.json()["error"]


def _migrate(connection: Connection, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(db_engine.MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


async def _upgrade_to(engine: AsyncEngine, revision: str) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(_migrate, revision)


@pytest.fixture(params=["sqlite", "postgresql"])
async def fresh_engine(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[AsyncEngine]:
    """An empty registry database of its own (a new PostgreSQL database, or SQLite)."""
    if request.param == "sqlite":
        engine = db_engine.make_engine(f"sqlite+aiosqlite:///{tmp_path / 'registry.db'}")
        yield engine
        await engine.dispose()
        return
    name = f"tufsync_case_{uuid.uuid4().hex[:10]}"
    _admin(f'CREATE DATABASE "{name}"')
    engine = db_engine.make_engine(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}")
    try:
        yield engine
    finally:
        await engine.dispose()
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_migration_refuses_existing_case_duplicates(fresh_engine: AsyncEngine) -> None:
    await _upgrade_to(fresh_engine, "0001")
    insert = text("INSERT INTO users (username, password_hash) VALUES (:name, 'h')")
    async with fresh_engine.begin() as conn:
        for name in ("carol", "Carol", "dave"):
            await conn.execute(insert, {"name": name})
    with pytest.raises(RuntimeError, match="'Carol', 'carol'"):
        await db_engine.upgrade(fresh_engine)
    assert await db_engine.pending_migrations(fresh_engine)
    async with fresh_engine.begin() as conn:
        await conn.execute(text("DELETE FROM users WHERE username = 'Carol'"))
    await db_engine.upgrade(fresh_engine)
    assert not await db_engine.pending_migrations(fresh_engine)
    with pytest.raises(IntegrityError):
        async with fresh_engine.begin() as conn:
            await conn.execute(insert, {"name": "CAROL"})

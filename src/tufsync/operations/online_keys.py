"""Online keys made by the server: create, list, delete, and the removal of old unused ones.

Use case of ``POST|GET|DELETE /tuf/v1/keys/online`` (a tufsync addition, see
README "Online keys made by the server"). A key belongs to exactly one
(admin, app): it lives only in that tenant's key folder, so every step is
scoped through :class:`tufsync.tenant_keys.TenantRef`. A key is *used* when
a published role (or a root awaiting signatures) lists it; used keys are
never deleted. Unused keys are bounded per app (``unused_online_keys_max``)
and removed after ``unused_online_key_days``. Generation runs in a thread;
making keys of one app is serialised by its online-keys lock so the bound
holds across processes; deleting holds the repository lock, so no publish
can start using a key while it goes. Answers, logs and audit rows carry the
public key and keyid only.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tufsync import tenant_keys
from tufsync.audit_events import online_key_details
from tufsync.db import audit
from tufsync.state.locks import LockTimeout, hold_lock
from tufsync.tuf import online_keygen
from tufsync.tuf.online_keygen import MadeKey
from tufsync.tuf.repository import Repository

if TYPE_CHECKING:
    from tufsync.services import Services

log = logging.getLogger("tufsync.online_keys")
SYSTEM_ACTOR = "tufsync"
DELETE_LOCK_WAIT = 30.0


# -- request and answers ----------------------------------------------------------
class CreateKeyRequest(BaseModel):
    """Body of POST /tuf/v1/keys/online (optional)."""

    model_config = ConfigDict(extra="forbid")
    keytype: Literal["ed25519", "ecdsa-sha2-nistp256", "rsassa-pss-sha256"] = Field(
        default="ed25519", description="Type of the new key."
    )


class PublicKey(BaseModel):
    keytype: str
    scheme: str
    keyval: dict[str, str] = Field(description='{"public": ...}, as in root\'s "keys".')


class CreatedKey(BaseModel):
    keyid: str
    key: PublicKey


class CreatedKeyAnswer(BaseModel):
    data: CreatedKey
    message: str


class ListedKey(BaseModel):
    keyid: str
    key: PublicKey
    created: str = Field(description="ISO 8601 time the server made the key.")
    roles: list[str] = Field(description="Roles of the published metadata that use the key.")


class KeyList(BaseModel):
    keys: list[ListedKey]


class KeyListAnswer(BaseModel):
    data: KeyList
    message: str


class DeletedKey(BaseModel):
    keyid: str


class DeletedKeyAnswer(BaseModel):
    data: DeletedKey
    message: str


# -- outcomes the router turns into answers ----------------------------------------
class OnlineKeyRefused(Exception):
    """A request about online keys that cannot be done; ``status`` is 404, 409 or 503."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.message = message


@dataclass(frozen=True)
class Caller:
    """Who asks, about which repository: the admin's id and name and the repository."""

    admin_id: int
    admin: str
    repo: Repository

    @property
    def ref(self) -> tenant_keys.TenantRef:
        return self.repo.ref


def _root(repo: Repository) -> Any:
    return repo.engine.keys.root


def public_dict(made: MadeKey) -> dict[str, Any]:
    """The key exactly as it goes into root's ``keys`` (python-tuf ``Key.to_dict``)."""
    return made.key.to_dict()


async def _record(services: Services, caller: Caller, event: str, keyid: str) -> None:
    await audit.record(
        services.sessions,
        caller.admin_id,
        caller.repo.app,
        event,
        actor=caller.admin,
        details=online_key_details(keyid),
    )


# -- create --------------------------------------------------------------------------
async def create(services: Services, caller: Caller, request: CreateKeyRequest) -> MadeKey:
    """Make a key of ``request.keytype`` in the caller's folder (409 past the bound)."""
    repo = caller.repo
    limit = services.settings.unused_online_keys_max
    async with hold_lock(repo.state, tenant_keys.online_keys_lock(caller.ref), wait=60.0):
        made = await asyncio.to_thread(online_keygen.made_keys, _root(repo), caller.ref)
        uses = await online_keygen.roles_using(repo)
        unused = [m for m in made if m.keyid not in uses]
        if len(unused) >= limit:
            raise OnlineKeyRefused(
                409,
                f"app {repo.app!r} already holds {len(unused)} online keys that no published "
                f"role uses (at most {limit}); use one in a bootstrap or rotation, or delete "
                "one with DELETE /tuf/v1/keys/online, before making another",
                "Online key not created",
            )
        key, pem = await asyncio.to_thread(online_keygen.generate, request.keytype)
        try:
            created = await asyncio.to_thread(
                online_keygen.store, _root(repo), caller.ref, key, pem, repo.engine.clock()
            )
        except OSError as exc:
            log.error("online key folder of %s/%s not writable: %s", caller.admin, repo.app, exc)
            raise OnlineKeyRefused(
                503,
                "the server cannot write its online key folder now; try again later",
                "Online key not created",
            ) from None
    await _record(services, caller, "online_key_created", created.keyid)
    log.info(
        "online key %s made for %s/%s",
        created.keyid,
        caller.admin,
        repo.app,
        extra={"fields": {"event": "online_key_created", "app": repo.app, "keyid": created.keyid}},
    )
    return created


# -- list ----------------------------------------------------------------------------
async def listing(caller: Caller) -> list[dict[str, Any]]:
    """The keys the server made for the caller's app, with the roles using each."""
    made = await asyncio.to_thread(online_keygen.made_keys, _root(caller.repo), caller.ref)
    uses = await online_keygen.roles_using(caller.repo) if made else {}
    return [
        {
            "keyid": m.keyid,
            "key": public_dict(m),
            "created": m.created.isoformat(),
            "roles": uses.get(m.keyid, []),
        }
        for m in made
    ]


# -- delete --------------------------------------------------------------------------
def _not_found(keyid: str, app: str) -> OnlineKeyRefused:
    return OnlineKeyRefused(
        404,
        f"no online key {keyid[:80]!r} made by the server for app {app!r}",
        "Online key not found",
    )


async def delete(services: Services, caller: Caller, keyid: str) -> None:
    """Delete a key the server made for the caller's app that no role uses."""
    repo = caller.repo
    root = _root(repo)
    if await asyncio.to_thread(online_keygen.find, root, caller.ref, keyid) is None:
        raise _not_found(keyid, repo.app)
    try:
        async with hold_lock(repo.state, repo.lock_name, wait=DELETE_LOCK_WAIT):
            roles = (await online_keygen.roles_using(repo)).get(keyid, [])
            if roles:
                raise OnlineKeyRefused(
                    409,
                    f"online key {keyid} is in use by role(s) {', '.join(roles)} of app "
                    f"{repo.app!r}; rotate it out of root first",
                    "Online key not deleted",
                )
            if not await asyncio.to_thread(online_keygen.remove, root, caller.ref, keyid):
                raise _not_found(keyid, repo.app)
    except LockTimeout:
        raise OnlineKeyRefused(
            409,
            f"app {repo.app!r} is busy with a metadata change; delete the key once it is done",
            "Online key not deleted",
        ) from None
    await _record(services, caller, "online_key_deleted", keyid)


# -- removal of old unused keys (the periodic pass) -------------------------------------
async def expire_unused(services: Services, now: datetime) -> int:
    """Remove keys the server made that no role uses and that are older than
    ``unused_online_key_days``, each with an ``online_key_expired`` audit event.
    A repository busy with a metadata change is left for the next pass."""
    engine = services.tuf
    root = engine.keys.root
    cutoff = now - timedelta(days=services.settings.unused_online_key_days)
    removed = 0
    for ref in await asyncio.to_thread(online_keygen.tenants_with_keys, root):
        old = [
            m
            for m in await asyncio.to_thread(online_keygen.made_keys, root, ref)
            if m.created <= cutoff
        ]
        if not old:
            continue
        repo = engine.repo(ref.admin, ref.app)
        gone: list[str] = []
        try:
            async with hold_lock(repo.state, repo.lock_name, wait=0):
                uses = await online_keygen.roles_using(repo)
                for made in old:
                    if made.keyid not in uses and await asyncio.to_thread(
                        online_keygen.remove, root, ref, made.keyid
                    ):
                        gone.append(made.keyid)
        except LockTimeout:
            continue
        for keyid in gone:
            log.info(
                "unused online key %s of %s/%s removed after %g days",
                keyid,
                ref.admin,
                ref.app,
                services.settings.unused_online_key_days,
                extra={"fields": {"event": "online_key_expired", "app": ref.app, "keyid": keyid}},
            )
            await audit.record(
                services.sessions,
                ref.admin,
                ref.app,
                "online_key_expired",
                actor=SYSTEM_ACTOR,
                details=online_key_details(keyid),
            )
        removed += len(gone)
    return removed

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
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tufsync import tenant_keys
from tufsync.audit_events import online_key_details
from tufsync.db import audit
from tufsync.state.locks import LockTimeout, hold_lock
from tufsync.tasks.contract import TaskContext

# The periodic removal of unused keys runs in the refresh pass (tasks layer).
from tufsync.tasks.online_key_expiry import expire_unused as expire_unused
from tufsync.tuf import online_keygen
from tufsync.tuf.online_keygen import MadeKey
from tufsync.tuf.repository import Repository

log = logging.getLogger("tufsync.online_keys")
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


async def _record(services: TaskContext, caller: Caller, event: str, keyid: str) -> None:
    await audit.record(
        services.sessions,
        caller.admin_id,
        caller.repo.app,
        event,
        actor=caller.admin,
        details=online_key_details(keyid),
    )


# -- create --------------------------------------------------------------------------
async def create(services: TaskContext, caller: Caller, request: CreateKeyRequest) -> MadeKey:
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


async def delete(services: TaskContext, caller: Caller, keyid: str) -> None:
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

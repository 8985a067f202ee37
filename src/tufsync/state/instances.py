"""Process instances: this process's id, its liveness key, and who counts as dead.

Every process gets a fresh instance id at start. Locks and task leases store
the id of the instance holding them; while an instance lives, its heartbeat
keeps ``instance_alive(<id>)`` in the state store. A lock whose owner has no
such key any more belongs to a dead process, and a waiter takes it over at
once instead of waiting for its time-to-live. In the embedded mode a single
process runs everything, so at start-up every other instance is dead.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from tufsync import tenant_keys
from tufsync.state.base import StateStore

log = logging.getLogger(__name__)

PROCESS_ID = uuid.uuid4().hex
ALIVE_TTL = 15.0
BEAT_INTERVAL = 3.0


async def announce(store: StateStore) -> None:
    """Mark this process alive for ``ALIVE_TTL`` seconds."""
    await store.set(tenant_keys.instance_alive(PROCESS_ID), "alive", ttl=ALIVE_TTL)


async def keep_alive(store: StateStore) -> None:
    """Renew this process's liveness key until cancelled."""
    while True:
        await asyncio.sleep(BEAT_INTERVAL)
        try:
            await announce(store)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("could not renew the liveness of instance %s", PROCESS_ID)


async def declare_others_dead(store: StateStore) -> list[str]:
    """Drop every other instance's liveness key (embedded mode: we are the only process)."""
    own = tenant_keys.instance_alive(PROCESS_ID)
    others = [k for k in await store.keys(tenant_keys.INSTANCE_PREFIX) if k != own]
    if others:
        await store.delete(*others)
    return [k.removeprefix(tenant_keys.INSTANCE_PREFIX) for k in others]


async def is_dead(store: StateStore, owner: str) -> bool:
    """True when ``owner`` names another instance that no longer lives.

    An unnamed owner ("") is never declared dead: its lock ends with its TTL.
    """
    if not owner or owner == PROCESS_ID:
        return False
    return await store.get(tenant_keys.instance_alive(owner)) is None

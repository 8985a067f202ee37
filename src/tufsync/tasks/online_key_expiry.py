"""The periodic removal of online keys the server made that no role uses.

Keys made through ``POST /tuf/v1/keys/online`` and never used by a published role
are removed once they are older than ``TUFSYNC_UNUSED_ONLINE_KEY_DAYS``, each
with an ``online_key_expired`` audit event (docs/api.md, online keys).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from tufsync.audit_events import online_key_details
from tufsync.db import audit
from tufsync.state.locks import LockTimeout, hold_lock
from tufsync.tasks.contract import TaskContext
from tufsync.tuf import online_keygen

log = logging.getLogger("tufsync.online_keys")
SYSTEM_ACTOR = "tufsync"


async def expire_unused(services: TaskContext, now: datetime) -> int:
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

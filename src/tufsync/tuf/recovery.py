"""Bootstrap recovery: rebuild a repository's state-store entries from the object store.

When the state store loses an app's entries (bootstrap marker, settings,
refresh schedule), they are rebuilt from the published metadata and the
private settings copy ``tuf_private/<admin>/<app>/settings.json``. Without
that copy, expirations are derived from the metadata (days left, rounded
up). Nothing is published. Entries are written only at the end, and removed
again if the rebuild fails, so no partial state is left behind.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from enum import Enum

from tuf.api.metadata import Metadata, Targets

from tufsync import tenant_keys, testhooks
from tufsync.tuf.config import MAX_EXPIRATION_DAYS, HashBins, RepoConfig, RoleSettings
from tufsync.tuf.errors import NotBootstrapped
from tufsync.tuf.repository import Repository, Trusted
from tufsync.tuf.signing import role_keys
from tufsync.tuf.targets import delegated_role_names
from tufsync.writes import write_section


class RecoveryNeed(Enum):
    NOT_REQUIRED = "not_required"
    NO_ROOT = "no_root"
    BOOTSTRAP_RUNNING = "bootstrap_running"
    REQUIRED = "required"


async def recovery_need(repo: Repository) -> RecoveryNeed:
    """What recovery would do; a published ``timestamp.json`` is what it recovers from."""
    marker = await repo.bootstrap_marker()
    if marker and marker.startswith("pre-"):
        return RecoveryNeed.BOOTSTRAP_RUNNING
    if not await repo.files.timestamp_exists():
        return RecoveryNeed.NO_ROOT
    complete = (
        marker is not None
        and not marker.startswith("signing-")
        and await repo.config() is not None
        and await repo.schedule() is not None
    )
    return RecoveryNeed.NOT_REQUIRED if complete else RecoveryNeed.REQUIRED


def _days_left(expires: datetime, now_ts: float) -> int:
    left = (expires.timestamp() - now_ts) / 86400
    return max(1, min(MAX_EXPIRATION_DAYS, math.ceil(left)))


async def derive_config(repo: Repository, trusted: Trusted, bootstrap_id: str) -> RepoConfig:
    """Settings read off the published metadata (used when the private copy is gone)."""
    now_ts = repo.engine.clock().timestamp()
    root = trusted.root.signed
    top = {
        "root": trusted.root.signed.expires,
        "timestamp": trusted.timestamp.signed.expires,
        "snapshot": trusted.snapshot.signed.expires,
        "targets": trusted.targets.signed.expires,
    }
    roles = {
        name: RoleSettings(
            expiration=_days_left(expires, now_ts),
            threshold=root.roles[name].threshold,
            num_keys=len(root.roles[name].keyids),
        )
        for name, expires in top.items()
    }
    targets_keys, _ = role_keys(root, "targets")
    online = not repo.engine.keys.unavailable(repo.admin, repo.app, targets_keys)
    delegated: dict[str, RoleSettings] = {}
    delegations = trusted.targets.signed.delegations
    for name, role in (delegations.roles or {}).items() if delegations else []:
        md: Metadata[Targets] | None = await repo.delegated(trusted, name)
        days = (
            _days_left(md.signed.expires, now_ts) if md is not None else roles["targets"].expiration
        )
        delegated[name] = RoleSettings(days, role.threshold, len(role.keyids))
    bins = None
    if delegations is not None and delegations.succinct_roles is not None:
        succinct = delegations.succinct_roles
        first = await repo.delegated(trusted, next(iter(succinct.get_roles())))
        days = _days_left(first.signed.expires, now_ts) if first else roles["targets"].expiration
        bins = HashBins(succinct.number_of_bins, days, succinct.threshold, len(succinct.keyids))
    return RepoConfig(bootstrap_id, roles, online, delegated, bins)


async def recover(repo: Repository, task_id: str) -> RepoConfig:
    """Rebuild marker, settings and refresh schedule; undo them on any failure."""
    try:
        trusted = await repo.trusted()
    except NotBootstrapped as exc:
        raise NotBootstrapped(f"cannot recover: {exc}") from None
    raw = await repo.engine.storage.get(repo.private_settings_key)
    if raw is not None:
        config = RepoConfig.from_dict(json.loads(raw))
    else:
        config = await derive_config(repo, trusted, f"recovered-{task_id}")
    state = repo.state
    names = {
        "settings": tenant_keys.settings(repo.ref),
        "schedule": tenant_keys.schedule(repo.ref),
        "marker": tenant_keys.bootstrap(repo.ref),
    }
    existing = await state.get_many(list(names.values()))
    await write_section(_restore(repo, trusted, config, raw is None, names, existing))
    return config


async def _restore(
    repo: Repository,
    trusted: Trusted,
    config: RepoConfig,
    derived: bool,
    names: dict[str, str],
    existing: dict[str, str],
) -> None:
    """Write the missing entries, the marker last; on failure remove what was written."""
    state = repo.state
    written: list[str] = []
    try:
        if names["settings"] not in existing:
            if derived:
                await repo.save_config(config)
            else:
                await state.set(names["settings"], json.dumps(config.to_dict(), sort_keys=True))
            written.append(names["settings"])
        await testhooks.pause("writing")
        if names["schedule"] not in existing:
            expiries = {"timestamp": trusted.timestamp.signed.expires}
            expiries["root"] = trusted.root.signed.expires
            expiries["snapshot"] = trusted.snapshot.signed.expires
            expiries["targets"] = trusted.targets.signed.expires
            for name in delegated_role_names(trusted.targets.signed.delegations):
                md = await repo.delegated(trusted, name)
                if md is not None:
                    expiries[name] = md.signed.expires
            await repo.record_expiries(expiries, config)
            written.append(names["schedule"])
        marker = existing.get(names["marker"])
        if marker is None or marker.startswith("signing-"):
            await state.set(names["marker"], config.bootstrap)
            written.append(names["marker"])
    except BaseException:
        await state.delete(*written)
        raise

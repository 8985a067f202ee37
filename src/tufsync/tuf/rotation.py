"""Root rotation: check a new root, collect signatures, publish without a gap.

A new root must be version trusted + 1, unexpired, well formed, and carry
only signatures that verify with keys of the trusted or the new root. It is
published once both the trusted root's threshold (old keys) and its own
(new keys) are met. When the online keys change, targets (when online),
snapshot and timestamp are re-signed in the same change, signed for both
roots while the old online keys are still available. An offline targets
cannot be re-signed by the server: a new root under which the published
targets stops verifying is refused (:func:`require_top_level_verifies`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from tuf.api.metadata import Key, Metadata, Root, Targets

from tufsync import testhooks
from tufsync.names import TOP_LEVEL_ROLES
from tufsync.state.locks import HeldLock
from tufsync.tuf.changes import MetadataChange
from tufsync.tuf.config import RepoConfig
from tufsync.tuf.drafts import check_signatures, progress_of, refuse_expired, requirements_for
from tufsync.tuf.errors import TufInputError
from tufsync.tuf.keys import OnlineKeyStore
from tufsync.tuf.metastore import to_bytes, versioned_name
from tufsync.tuf.repository import Repository, Trusted
from tufsync.tuf.signing import canonical_bytes
from tufsync.tuf.validation import (
    check_online,
    check_root,
    check_root_keys_offline,
    parse_metadata,
    role_key_map,
)
from tufsync.writes import write_section

ONLINE_ROLES = ("targets", "snapshot", "timestamp")


class TargetsNotSignedForRoot(TufInputError):
    """The published offline targets does not verify under a new root."""


def validate_new_root(
    trusted_root: Root,
    raw: Any,
    keystore: OnlineKeyStore,
    admin: str,
    app: str,
    now: datetime,
    targets_online: bool,
    delegated_keys: Mapping[str, Key] | None = None,
) -> Metadata[Root]:
    """Check a new root; ``delegated_keys`` are the online keys of delegated roles,
    which no root key may be either."""
    md: Metadata[Root] = parse_metadata(raw, "metadata.root", "root")
    root = md.signed
    check_root(root, trusted_root.version + 1, now, "the new root")
    online = [name for name in ONLINE_ROLES if name != "targets" or targets_online]
    check_root_keys_offline(
        root,
        {name: role_key_map(root, name) for name in online}
        | {"delegated roles": dict(delegated_keys or {})},
    )
    for name in online:
        check_online(keystore, admin, app, role_key_map(root, name), name)
    check_signatures(md, requirements_for("root", md, trusted_root, trusted_root), "metadata.root")
    return md


def require_top_level_verifies(
    new_root: Root, targets: Metadata[Targets], targets_online: bool
) -> None:
    """Never publish a root under which the current top-level metadata stops verifying.

    After updating root, a TUF client verifies timestamp, snapshot and targets with
    the new root's keys and thresholds (TUF specification §5.3.11, §5.4-§5.6). The
    server re-signs the online roles in the same change as the root
    (:func:`publish_root`); an offline targets only its key holders can re-sign, so
    the published ``targets`` must already meet the new root's targets threshold.
    Raises :class:`TargetsNotSignedForRoot` saying what must be signed first.
    """
    if targets_online:
        return
    result = new_root.get_verification_result(
        "targets", canonical_bytes(targets), targets.signatures
    )
    if result.verified:
        return
    have = f"{len(result.signed)} of the {result.threshold}"
    raise TargetsNotSignedForRoot(
        "The new root changes the offline targets role's keys or threshold, and the "
        f"published targets (version {targets.signed.version}) carries {have} signatures "
        "by the new targets keys it needs: every TUF client would reject targets under this root. "
        "Targets must be signed by the new keys first: post a root that adds the new targets "
        "keys and keeps a threshold the published targets still meets, have the new key "
        "holders sign a new targets version (POST /tuf/v1/metadata/delegated/rotate, then "
        "POST /tuf/v1/metadata/sign), then post the root that removes the old keys."
    )


def online_keys_changed(old: Root, new: Root, targets_online: bool) -> list[str]:
    roles = [r for r in ONLINE_ROLES if r != "targets" or targets_online]
    return [r for r in roles if set(old.roles[r].keyids) != set(new.roles[r].keyids)]


async def publish_root(
    repo: Repository, new_root: Metadata[Root], lock: HeldLock
) -> dict[str, int]:
    """Publish ``new_root`` (thresholds met, not expiring within a minute); re-sign
    online roles whose keys changed."""
    config = await repo.require_config()
    trusted = await repo.trusted()
    old = trusted.root.signed
    if old.version == new_root.signed.version and old == new_root.signed:
        return await _resign_after_interrupted(repo, trusted, config, lock)
    if new_root.signed.version != old.version + 1:
        raise TufInputError(
            f"root version {new_root.signed.version} is no longer next: trusted root is "
            f"version {old.version}"
        )
    refuse_expired("root", new_root.signed, repo.engine.clock())
    require_top_level_verifies(new_root.signed, trusted.targets, config.targets_online_key)
    progress = progress_of(new_root, requirements_for("root", new_root, old, old))
    if not progress.complete:
        raise TufInputError(
            "the new root does not meet both thresholds: " + progress.message("root")
        )
    changed = online_keys_changed(old, new_root.signed, config.targets_online_key)
    versions = {"root": new_root.signed.version}
    if not changed:
        await lock.ensure_held()
        await write_section(_put_root(repo, new_root, config))
    else:
        change = MetadataChange(repo, trusted, config, lock, next_root=new_root)
        if "targets" in changed:
            await change.open("targets")
        change.force_snapshot = True
        versions |= (await change.commit()).versions
    roles = new_root.signed.roles
    await repo.save_config(
        config.with_top_level_keys(
            {name: (roles[name].threshold, len(roles[name].keyids)) for name in TOP_LEVEL_ROLES}
        )
    )
    return versions


async def _put_root(repo: Repository, new_root: Metadata[Root], config: RepoConfig) -> None:
    """Publish ``<N>.root.json`` alone (online keys unchanged: nothing else is re-signed),
    then record its expiry."""
    files = repo.files
    await files.storage.put(
        files.key(versioned_name("root", new_root.signed.version)), to_bytes(new_root)
    )
    await testhooks.pause("writing")
    await repo.record_expiries({"root": new_root.signed.expires}, config)


async def _resign_after_interrupted(
    repo: Repository, trusted: Trusted, config: RepoConfig, lock: HeldLock
) -> dict[str, int]:
    """The new root is already published (a run cut off by a crash): re-sign snapshot,
    timestamp (and online targets) under it, so every online role verifies with it."""
    change = MetadataChange(repo, trusted, config, lock)
    if config.targets_online_key:
        await change.open("targets")
    change.force_snapshot = True
    versions = {"root": trusted.root.signed.version} | (await change.commit()).versions
    roles = trusted.root.signed.roles
    await repo.save_config(
        config.with_top_level_keys(
            {name: (roles[name].threshold, len(roles[name].keyids)) for name in TOP_LEVEL_ROLES}
        )
    )
    return versions

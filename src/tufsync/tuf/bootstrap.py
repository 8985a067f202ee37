"""Bootstrap: check a payload completely, then create and publish version 1.

``validate_bootstrap`` runs in the request (in a worker thread, through
``validate_bootstrap_async``), so every problem is a 400 before anything is
stored; a payload delegating to more than ``MAX_DELEGATED_ROLES`` roles is
refused before anything of it is parsed. ``run_bootstrap`` signs targets (when online), every
delegated role, snapshot and timestamp, verifies the whole chain, and
publishes ``1.root.json``, the role files, ``1.snapshot.json`` and
``timestamp.json`` last, then the settings and the completed marker, all in
one write section. On failure it removes everything the bootstrap may have
written, so the app can be bootstrapped again at once.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from tuf.api.metadata import (
    DelegatedRole,
    Delegations,
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    SuccinctRoles,
    Targets,
    Timestamp,
)

from tufsync import tenant_keys, testhooks
from tufsync.names import TOP_LEVEL_ROLES, target_patterns
from tufsync.tuf.clock import expiry_after
from tufsync.tuf.config import BIN_PREFIX, HashBins, RepoConfig, RoleSettings
from tufsync.tuf.errors import TufInputError
from tufsync.tuf.keys import OnlineKeyStore, TenantSigner
from tufsync.tuf.metastore import to_bytes, versioned_name
from tufsync.tuf.repository import Repository
from tufsync.tuf.signing import online_signers, sign_and_verify
from tufsync.tuf.targets import delegated_role_names
from tufsync.tuf.validation import (
    MAX_DELEGATED_ROLES,
    OnlineKeyCheck,
    check_delegations,
    check_role_bound,
    check_root,
    check_root_keys_offline,
    check_signed_by,
    expiration_days,
    parse_metadata,
    raw_field,
    require_object,
    role_key_map,
    task_timeout,
)
from tufsync.writes import write_section

P = ParamSpec("P")
R = TypeVar("R")
DEFAULT_ROLE = "default"
MIN_BINS = 2
MAX_BINS = MAX_DELEGATED_ROLES  # a repository has at most this many delegated roles
DEFAULT_TIMEOUT = 300.0


@dataclass(frozen=True)
class BootstrapPlan:
    """A validated bootstrap request."""

    admin: str
    app: str
    root: Metadata[Root]
    offline_targets: Metadata[Targets] | None
    delegations: Delegations
    expirations: dict[str, int]
    delegated_expirations: dict[str, int]
    timeout: float
    hash_bins: HashBins | None = None
    # Version 1 of each delegated role whose keys the server does not hold, signed
    # by its holders (``metadata.<role>`` of the payload).
    offline_roles: dict[str, Metadata[Targets]] = field(default_factory=dict)

    def delegated_expiration(self, name: str) -> int:
        if self.hash_bins is not None:
            return self.hash_bins.expiration
        return self.delegated_expirations[name]

    def config(self, task_id: str) -> RepoConfig:
        root = self.root.signed
        roles = {
            name: RoleSettings(
                expiration=self.expirations[name],
                threshold=root.roles[name].threshold,
                num_keys=len(root.roles[name].keyids),
            )
            for name in TOP_LEVEL_ROLES
        }
        delegated = {
            name: RoleSettings(
                expiration=self.delegated_expirations[name],
                threshold=role.threshold,
                num_keys=len(role.keyids),
            )
            for name, role in (self.delegations.roles or {}).items()
        }
        return RepoConfig(
            bootstrap=task_id,
            roles=roles,
            targets_online_key=self.offline_targets is None,
            delegated_roles=delegated,
            hash_bins=self.hash_bins,
        )


@dataclass(frozen=True)
class _Settings:
    """The ``settings`` and ``timeout`` of a bootstrap payload, read and type-checked."""

    timeout: float
    expirations: dict[str, int]
    targets_online: bool
    raw_delegations: Any
    raw_bins: Any


@dataclass(frozen=True)
class _Delegation:
    """What targets v1 delegates to, and the offline targets v1 if one was sent."""

    delegations: Delegations
    expirations: dict[str, int]
    offline_targets: Metadata[Targets] | None = None
    hash_bins: HashBins | None = None


def _read_settings(payload: dict[str, Any]) -> _Settings:
    timeout = task_timeout(payload.get("timeout"), DEFAULT_TIMEOUT)
    settings = require_object(payload.get("settings"), "settings")
    roles_settings = require_object(settings.get("roles"), "settings.roles")
    expirations = {
        role: expiration_days(
            require_object(roles_settings.get(role), f"settings.roles.{role}").get("expiration"),
            f"settings.roles.{role}.expiration",
        )
        for role in TOP_LEVEL_ROLES
    }
    online = require_object(roles_settings.get("targets"), "settings.roles.targets").get(
        "online_key", True
    )
    if not isinstance(online, bool):
        raise TufInputError("settings.roles.targets.online_key must be true or false")
    raw_delegations = roles_settings.get("delegations")
    raw_bins = roles_settings.get("hash_bins")
    if raw_bins is not None and (raw_delegations is not None or not online):
        raise TufInputError(
            "settings.roles.hash_bins needs targets online and no explicit delegations"
        )
    return _Settings(timeout, expirations, online, raw_delegations, raw_bins)


def _check_role_bounds(settings: _Settings, metadata: dict[str, Any]) -> None:
    """The delegated-role bound, on the raw JSON, before anything is parsed."""
    if settings.targets_online:
        check_role_bound(settings.raw_delegations, "settings.roles.delegations")
    else:
        raw = raw_field(metadata, "targets", "signed", "delegations")
        check_role_bound(raw, "metadata.targets.signed.delegations")


def check_root_v1(metadata: dict[str, Any], now: datetime) -> Metadata[Root]:
    """The first root: version 1, unexpired, consistent snapshots, signed by its own
    root threshold (it is the client's initial trusted root).

    https://theupdateframework.github.io/specification/latest/#load-trusted-root
    """
    root_md = parse_metadata(metadata.get("root"), "metadata.root", "root")
    check_root(root_md.signed, 1, now, "metadata.root")
    check_signed_by(root_md, root_md.signed, "root", "metadata.root")
    return root_md


def check_top_level_online(root: Root, settings: _Settings, online: OnlineKeyCheck) -> None:
    """Timestamp, snapshot (and targets when online) have keys the server holds, and
    none of them is a root key.

    https://theupdateframework.github.io/specification/latest/#key-management-and-migration
    """
    names = (
        ("timestamp", "snapshot", "targets")
        if settings.targets_online
        else ("timestamp", "snapshot")
    )
    keys = {name: role_key_map(root, name) for name in names}
    check_root_keys_offline(root, keys)
    for name in names:
        online.require(keys[name], name)


def check_offline_targets_v1(
    admin: str, app: str, metadata: dict[str, Any], root: Root, now: datetime
) -> _Delegation:
    """An offline targets v1: unexpired, signed to the targets threshold of root v1,
    listing no targets itself and delegating to roles the server signs online.

    https://theupdateframework.github.io/specification/latest/#file-formats-targets
    """
    if metadata.get("targets") is None:
        raise TufInputError(
            "metadata.targets is required when settings.roles.targets.online_key is false"
        )
    targets_md: Metadata[Targets] = parse_metadata(
        metadata.get("targets"), "metadata.targets", "targets"
    )
    signed = targets_md.signed
    if signed.version != 1:
        raise TufInputError(f"metadata.targets must be version 1, not {signed.version}")
    if signed.is_expired(now):
        raise TufInputError(f"metadata.targets expired at {signed.expires.isoformat()}")
    check_signed_by(targets_md, root, "targets", "metadata.targets")
    if signed.delegations is None:
        raise TufInputError(
            "metadata.targets must delegate to the roles that list artifacts when targets is "
            "offline"
        )
    delegations, expirations = check_delegations(
        signed.delegations.to_dict(), admin, app, "metadata.targets.signed.delegations"
    )
    if signed.targets:
        raise TufInputError("metadata.targets v1 must not list targets itself")
    return _Delegation(delegations, expirations, offline_targets=targets_md)


def _hash_bin_delegation(settings: _Settings, root: Root) -> _Delegation:
    """Succinct hash bins (TAP 15) keyed by the targets keys."""
    hash_bins = check_hash_bins(settings.raw_bins, root, settings.expirations["targets"])
    targets_keys = role_key_map(root, "targets")
    succinct = SuccinctRoles(
        keyids=list(targets_keys),
        threshold=hash_bins.threshold,
        bit_length=hash_bins.bit_length,
        name_prefix=BIN_PREFIX,
    )
    delegations = Delegations(keys=dict(targets_keys), succinct_roles=succinct)
    return _Delegation(delegations, {}, hash_bins=hash_bins)


def _default_delegation(admin: str, app: str, root: Root) -> _Delegation:
    """faynoSync's single ``default`` role over the tenant's whole layout."""
    targets_keys = role_key_map(root, "targets")
    default = DelegatedRole(
        name=DEFAULT_ROLE,
        keyids=list(targets_keys),
        threshold=root.roles["targets"].threshold,
        terminating=True,
        paths=target_patterns(admin, app),
    )
    return _Delegation(Delegations(keys=dict(targets_keys), roles={DEFAULT_ROLE: default}), {})


def _delegation(
    admin: str, app: str, settings: _Settings, metadata: dict[str, Any], root: Root, now: datetime
) -> _Delegation:
    if not settings.targets_online:
        return check_offline_targets_v1(admin, app, metadata, root, now)
    if settings.raw_bins is not None:
        return _hash_bin_delegation(settings, root)
    if settings.raw_delegations is not None:
        where = "settings.roles.delegations"
        raw = require_object(settings.raw_delegations, where)
        return _Delegation(*check_delegations(raw, admin, app, where))
    return _default_delegation(admin, app, root)


def offline_role_names(root: Root, delegations: Delegations, online: OnlineKeyCheck) -> list[str]:
    """The named delegated roles whose keys the server holds none of (signed offline by
    their holders); every other role's keys must all be held by the server. No
    delegated key may be a root key (hash bins share the targets keys, checked with
    targets).

    https://theupdateframework.github.io/specification/latest/#file-formats-targets
    """
    delegated_keys = {
        name: {kid: delegations.keys[kid] for kid in drole.keyids}
        for name, drole in (delegations.roles or {}).items()
    }
    check_root_keys_offline(root, delegated_keys)
    offline = []
    for name, keys in delegated_keys.items():
        if keys and online.none_available(keys):
            offline.append(name)
        else:
            online.require(keys, name)
    return offline


def check_offline_roles_v1(
    metadata: dict[str, Any], names: list[str], delegator: Targets, now: datetime
) -> dict[str, Metadata[Targets]]:
    """Version 1 of each offline delegated role, as its holders signed it: unexpired,
    listing no targets, signed to the role's threshold (TUF specification §5.6.4).
    A role the server signs itself needs none."""
    out: dict[str, Metadata[Targets]] = {}
    for name in names:
        where = f"metadata.{name}"
        if metadata.get(name) is None:
            raise TufInputError(
                f"{where} is required: the server holds none of the keys of delegated role "
                f"{name!r}, so its holders sign its version 1 (an empty targets, version 1, "
                f"listing no targets) and send it as {where}; or put the role's keys online "
                f"(POST /tuf/v1/keys/online) for the server to sign it"
            )
        md: Metadata[Targets] = parse_metadata(metadata.get(name), where, "targets")
        if md.signed.version != 1:
            raise TufInputError(f"{where} must be version 1, not {md.signed.version}")
        if md.signed.is_expired(now):
            raise TufInputError(f"{where} expired at {md.signed.expires.isoformat()}")
        if md.signed.targets or md.signed.delegations is not None:
            raise TufInputError(f"{where} v1 must list no targets and no delegations")
        check_signed_by(md, delegator, name, where)
        out[name] = md
    delegated = delegator.delegations.roles if delegator.delegations is not None else None
    extra = [name for name in metadata if name not in names and name in (delegated or {})]
    if extra:
        raise TufInputError(
            f"metadata.{extra[0]} was sent, but the server holds the keys of role {extra[0]!r} "
            "and signs its version 1 itself: leave it out"
        )
    return out


def validate_bootstrap(
    admin: str,
    app: str,
    payload: dict[str, Any],
    keystore: OnlineKeyStore,
    now: datetime,
) -> BootstrapPlan:
    """Check a bootstrap payload completely; raise TufInputError with a precise message.

    CPU work linear in the payload (signatures, one probe per distinct online key):
    async code calls :func:`validate_bootstrap_async`, which runs it in a worker thread.
    """
    settings = _read_settings(payload)
    metadata = require_object(payload.get("metadata"), "metadata")
    _check_role_bounds(settings, metadata)
    root_md = check_root_v1(metadata, now)
    root = root_md.signed
    online = OnlineKeyCheck(keystore, admin, app)
    check_top_level_online(root, settings, online)
    delegation = _delegation(admin, app, settings, metadata, root, now)
    delegations = delegation.delegations
    offline_names = offline_role_names(root, delegations, online)
    delegator = (
        delegation.offline_targets.signed
        if delegation.offline_targets is not None
        else Targets(version=1, delegations=delegations)
    )
    offline_roles = check_offline_roles_v1(metadata, offline_names, delegator, now)
    targets_days = settings.expirations["targets"]
    delegated_expirations = {
        name: delegation.expirations.get(name, targets_days) for name in delegations.roles or {}
    }
    return BootstrapPlan(
        admin=admin,
        app=app,
        root=root_md,
        offline_targets=delegation.offline_targets,
        delegations=delegations,
        expirations=settings.expirations,
        delegated_expirations=delegated_expirations,
        timeout=settings.timeout,
        hash_bins=delegation.hash_bins,
        offline_roles=offline_roles,
    )


def _in_thread(fn: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """``fn`` as a coroutine function that runs it in a worker thread."""

    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return await asyncio.to_thread(fn, *args, **kwargs)

    return run


# :func:`validate_bootstrap` in a worker thread, so a payload of thousands of roles
# never stalls the event loop (README "Large repositories").
validate_bootstrap_async = _in_thread(validate_bootstrap)


def recommended_bins(expected_targets: int) -> int:
    """A power of two near sqrt(10 * targets): balances snapshot size against bin size."""
    ideal = math.sqrt(10 * max(expected_targets, 1))
    return int(min(MAX_BINS, max(MIN_BINS, 2 ** round(math.log2(ideal)))))


def check_hash_bins(raw: Any, root: Root, default_days: int) -> HashBins:
    bins = require_object(raw, "settings.roles.hash_bins")
    number = bins.get("number_of_bins")
    if (
        isinstance(number, bool)
        or not isinstance(number, int)
        or number < MIN_BINS
        or number > MAX_BINS
        or number & (number - 1)
    ):
        raise TufInputError(
            f"settings.roles.hash_bins.number_of_bins must be a power of two from {MIN_BINS} "
            f"to {MAX_BINS}"
        )
    days = default_days
    if "expiration" in bins:
        days = expiration_days(bins["expiration"], "settings.roles.hash_bins.expiration")
    targets = root.roles["targets"]
    return HashBins(number, days, targets.threshold, len(targets.keyids))


@dataclass
class SignedVersionOne:
    """Version 1 of every role, signed and serialised, in publishing order, and the
    expiry of each online role (kept as bytes, not objects: thousands of bins)."""

    files: list[tuple[str, bytes]]
    expiries: dict[str, datetime]


class SigningCancelled(Exception):
    """The task was cancelled (e.g. timed out) while its roles were being signed."""


def sign_version_one(
    keystore: OnlineKeyStore,
    plan: BootstrapPlan,
    now: datetime,
    cancelled: threading.Event,
) -> SignedVersionOne:
    """Sign targets (when online), every delegated role or hash bin, snapshot and
    timestamp v1, and serialise them (docs/api.md §5.1 "The task signs with online keys").

    Pure CPU work with no awaits: it runs in a worker thread so a bootstrap of
    thousands of bins never stalls the event loop (docs/design.md invariant 8); it stops
    between roles once ``cancelled`` is set. Each role is kept only as its bytes,
    so the garbage collector never walks thousands of metadata objects.
    """
    root = plan.root.signed
    signers: dict[tuple[str, ...], list[TenantSigner]] = {}

    def sign_online(md: Metadata[Any], role: str, delegator: Root | Targets) -> bytes:
        if cancelled.is_set():
            raise SigningCancelled("the bootstrap was cancelled while signing")
        keyids = tuple(sorted(delegator.get_delegated_role(role).keyids))
        if keyids not in signers:  # every hash bin shares the targets keys: load them once
            signers[keyids] = online_signers(keystore, plan.admin, plan.app, delegator, role)
        return sign_and_verify(md, role, signers[keyids], delegator)

    targets_md: Metadata[Targets]
    if plan.offline_targets is not None:
        targets_md = plan.offline_targets
        targets_bytes = to_bytes(targets_md)
    else:
        targets_md = Metadata(
            Targets(
                version=1,
                expires=expiry_after(now, plan.expirations["targets"]),
                delegations=plan.delegations,
            )
        )
        targets_bytes = sign_online(targets_md, "targets", root)

    files = [(versioned_name("root", 1), to_bytes(plan.root))]
    files.append((versioned_name("targets", 1), targets_bytes))
    expiries = {"targets": targets_md.signed.expires}
    for name in delegated_role_names(plan.delegations):
        signed_offline = plan.offline_roles.get(name)
        if signed_offline is not None:
            files.append((versioned_name(name, 1), to_bytes(signed_offline)))
            expiries[name] = signed_offline.signed.expires
            continue
        expires = expiry_after(now, plan.delegated_expiration(name))
        md = Metadata(Targets(version=1, expires=expires))
        files.append((versioned_name(name, 1), sign_online(md, name, targets_md.signed)))
        expiries[name] = expires

    snapshot = Metadata(
        Snapshot(
            version=1,
            expires=expiry_after(now, plan.expirations["snapshot"]),
            meta={f"{name}.json": MetaFile(version=1) for name in expiries},
        )
    )
    files.append((versioned_name("snapshot", 1), sign_online(snapshot, "snapshot", root)))
    timestamp = Metadata(
        Timestamp(
            version=1,
            expires=expiry_after(now, plan.expirations["timestamp"]),
            snapshot_meta=MetaFile(version=1),
        )
    )
    files.append(("timestamp.json", sign_online(timestamp, "timestamp", root)))
    expiries |= {"snapshot": snapshot.signed.expires, "timestamp": timestamp.signed.expires}
    return SignedVersionOne(files, expiries)


async def run_bootstrap(repo: Repository, plan: BootstrapPlan, task_id: str) -> dict[str, int]:
    """Sign and publish version 1 of every role; store settings. Cleans up on failure."""
    engine = repo.engine
    config = plan.config(task_id)
    cancelled = threading.Event()
    try:
        signed = await asyncio.to_thread(
            sign_version_one, engine.keys, plan, engine.clock(), cancelled
        )
    finally:
        cancelled.set()  # a cancelled await leaves the thread running: stop it between roles

    expiries = {**signed.expiries, "root": plan.root.signed.expires}
    await write_section(
        _publish_v1(repo, signed.files, config, expiries, task_id, set(plan.offline_roles))
    )
    return dict.fromkeys([*signed.expiries, "root"], 1)


async def _publish_v1(
    repo: Repository,
    ordered: list[tuple[str, bytes]],
    config: RepoConfig,
    expiries: dict[str, datetime],
    task_id: str,
    offline_roles: set[str],
) -> None:
    """Write every v1 file (``timestamp.json`` last), the settings, then the marker.

    Bootstrap rule: the bootstrap is complete once its marker holds the task id
    (and ``timestamp.json`` exists); on any failure everything is removed again.
    """
    files = repo.files
    try:
        for name, data in ordered:
            await files.storage.put(files.key(name), data)
            await testhooks.pause("writing")
        await repo.save_config(config)
        await repo.record_expiries(expiries, config, frozenset(offline_roles))
        await repo.state.set(tenant_keys.bootstrap(repo.ref), task_id)
    except BaseException:
        await discard_bootstrap(repo, f"pre-{task_id}", keep_marker=True)
        raise


async def discard_bootstrap(repo: Repository, marker: str, *, keep_marker: bool = False) -> bool:
    """Remove everything a bootstrap holding ``marker`` may have written; False if the
    marker is not (or no longer) ``marker``.

    Runs after a failed, timed-out or interrupted bootstrap: every metadata file
    of the app, the private settings copy, settings and schedule go, and the
    marker last (unless ``keep_marker``), so the app can be bootstrapped again.
    """
    key = tenant_keys.bootstrap(repo.ref)
    if await repo.state.get(key) != marker:
        return False
    files = repo.files
    for info in await files.storage.list(files.prefix):
        await files.storage.delete(info.key)
    await files.storage.delete(repo.private_settings_key)
    await repo.state.delete(tenant_keys.settings(repo.ref), tenant_keys.schedule(repo.ref))
    files.forget_all()
    if not keep_marker:
        await repo.state.delete_if_equals(key, marker)
    return True

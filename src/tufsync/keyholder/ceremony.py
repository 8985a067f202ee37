"""Build a complete bootstrap payload offline: root v1 signed by the root key holders.

The online key (timestamp, snapshot, targets, and the default delegated role)
is generated into the tenant's folder of the server's online key directory.
With role keys, the ``default`` delegated role is offline instead: its holders'
keys are delegated to and its version 1 comes signed by them (docs/api.md,
"Bootstrap": ``metadata.default``), so the server stages every release into it
as a draft for them to sign.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from securesystemslib.signer import Key, Signer
from tuf.api.metadata import DelegatedRole, Delegations, Metadata, Root, Targets

from tufsync import tenant_keys
from tufsync.keyholder.keyfiles import generate_private_key, public_key_of, write_private
from tufsync.names import target_patterns

DEFAULT_EXPIRATIONS = {"root": 365, "targets": 365, "snapshot": 7, "timestamp": 1}


@dataclass
class CeremonyInput:
    app: str
    admin: str
    root_signers: list[Signer]
    root_threshold: int
    extra_root_keys: list[Key] = field(default_factory=list)
    expirations: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_EXPIRATIONS))
    hash_bins: int | None = None
    role_signers: list[Signer] = field(default_factory=list)
    extra_role_keys: list[Key] = field(default_factory=list)
    role_threshold: int = 1


def create_online_key(key_dir: Path, admin: str, app: str, key_type: str = "ed25519") -> Key:
    """Generate an online key into ``<key_dir>/<admin>/<app>/<keyid>.pem``."""
    private = generate_private_key(key_type)
    public = public_key_of(private)
    folder = tenant_keys.key_folder(key_dir, tenant_keys.TenantRef(admin, app))
    write_private(folder / f"{public.keyid}.pem", private)
    return public


def build_root(
    root_keys: list[Key], root_threshold: int, online_key: Key, root_days: int, now: datetime
) -> Metadata[Root]:
    root = Root(
        version=1,
        expires=(now + timedelta(days=root_days)).replace(microsecond=0),
        consistent_snapshot=True,
    )
    for key in root_keys:
        root.add_key(key, "root")
    for role in ("timestamp", "snapshot", "targets"):
        root.add_key(online_key, role)
    root.roles["root"].threshold = root_threshold
    return Metadata(root)


def build_payload(
    spec: CeremonyInput, online_key: Key, now: datetime | None = None
) -> dict[str, Any]:
    """The body of POST /tuf/v1/bootstrap, with root v1 signed by ``spec.root_signers``."""
    now = now or datetime.now(UTC)
    root_keys = [s.public_key for s in spec.root_signers] + list(spec.extra_root_keys)
    if not 1 <= spec.root_threshold <= len(root_keys):
        raise ValueError(
            f"root threshold {spec.root_threshold} needs between 1 and {len(root_keys)} keys"
        )
    root = build_root(root_keys, spec.root_threshold, online_key, spec.expirations["root"], now)
    for signer in spec.root_signers:
        root.sign(signer, append=True)
    roles: dict[str, Any] = {role: {"expiration": days} for role, days in spec.expirations.items()}
    if spec.hash_bins:
        roles["hash_bins"] = {"number_of_bins": spec.hash_bins}
    metadata = {"root": root.to_dict()}
    if spec.role_signers or spec.extra_role_keys:
        roles["delegations"], metadata["default"] = _offline_default(spec, now)
    return {"appName": spec.app, "settings": {"roles": roles}, "metadata": metadata}


def _offline_default(spec: CeremonyInput, now: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    """The delegation to an offline ``default`` role over the tenant's whole layout, and
    its version 1 (no targets) signed by the role holders present."""
    keys = [s.public_key for s in spec.role_signers] + list(spec.extra_role_keys)
    if spec.hash_bins:
        raise ValueError("an offline default role and hash bins exclude each other")
    if not 1 <= spec.role_threshold <= len(keys):
        raise ValueError(
            f"role threshold {spec.role_threshold} needs between 1 and {len(keys)} keys"
        )
    if len(spec.role_signers) < spec.role_threshold:
        raise ValueError(
            f"the default role's version 1 needs {spec.role_threshold} signature(s): give that "
            "many role keys that sign now (--role-key)"
        )
    role = DelegatedRole(
        name="default",
        keyids=[k.keyid for k in keys],
        threshold=spec.role_threshold,
        terminating=True,
        paths=target_patterns(spec.admin, spec.app),
    )
    delegations = Delegations(keys={k.keyid: k for k in keys}, roles={"default": role})
    expires = (now + timedelta(days=spec.expirations["targets"])).replace(microsecond=0)
    v1 = Metadata(Targets(version=1, expires=expires))
    for signer in spec.role_signers:
        v1.sign(signer, append=True)
    return delegations.to_dict(), v1.to_dict()

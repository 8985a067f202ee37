"""Build a complete bootstrap payload offline: root v1 signed by the root key holders.

The online key (timestamp, snapshot, targets, and the default delegated role)
is generated into the tenant's folder of the server's online key directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from securesystemslib.signer import Key, Signer
from tuf.api.metadata import Metadata, Root

from tufsync import tenant_keys
from tufsync.keyholder.keyfiles import generate_private_key, public_key_of, write_private

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
    return {"appName": spec.app, "settings": {"roles": roles}, "metadata": {"root": root.to_dict()}}

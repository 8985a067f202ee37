"""What an attacker who owns a tufsync server can write: forged TUF metadata.

The attacker has everything the server has: its data folder (database, state
store, logs) and every online private key in the server's key folder. The
helpers here load those keys as the server does (``tufsync.tuf.keys``: a PKCS8
PEM or a raw 32-byte ed25519 seed, wrapped in securesystemslib's
``CryptoSigner``) and rewrite a repository's public metadata the way a signing
server would: a new version of a role, then a snapshot listing it and a
timestamp listing that snapshot, both validly signed with the online keys
(TUF specification §5.3-5.6 is what a client checks of them).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)
from securesystemslib.signer import CryptoSigner, Signer
from tuf.api.metadata import (
    DelegatedRole,
    Delegations,
    Metadata,
    MetaFile,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

from tufsync import tenant_keys

SERIALIZER = JSONSerializer(compact=False)


@dataclass(frozen=True)
class Loot:
    """Everything taken from the server: the bytes of every file in its data folder
    and a signer for every online key of one repository."""

    files: dict[Path, bytes]
    online: list[Signer]

    def holds(self, secret: bytes) -> bool:
        """Whether any file the server has contains ``secret``."""
        return any(secret in data for data in self.files.values())


def steal(data_dir: Path, key_dir: Path, admin: str, app: str) -> Loot:
    """Copy the server's data folder and load every online key of ``admin``/``app``."""
    files = {p: p.read_bytes() for p in sorted(data_dir.rglob("*")) if p.is_file()}
    folder = tenant_keys.key_folder(key_dir, tenant_keys.TenantRef(admin, app))
    online: list[Signer] = []
    for path in sorted(folder.iterdir()):
        data = path.read_bytes()
        if len(data) == 32:
            online.append(CryptoSigner(Ed25519PrivateKey.from_private_bytes(data)))
        else:
            private = load_pem_private_key(data, password=None)
            online.append(CryptoSigner(private))
    return Loot(files, online)


def private_secrets(signer: Signer) -> list[bytes]:
    """The spellings of ``signer``'s ed25519 private key a server could store: the raw
    seed, its hex, and its PKCS8 PEM."""
    assert isinstance(signer, CryptoSigner)
    private = signer._private_key  # the test owns this key
    assert isinstance(private, Ed25519PrivateKey)
    raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    pem = private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    body = b"".join(line for line in pem.splitlines() if not line.startswith(b"-----"))
    return [raw, raw.hex().encode(), body]


class PublicRepository:
    """The public metadata folder of one repository, read and rewritten in place
    (consistent snapshots: ``<version>.<role>.json``, and ``timestamp.json``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def timestamp(self) -> Metadata[Timestamp]:
        return Metadata[Timestamp].from_bytes((self.folder / "timestamp.json").read_bytes())

    def snapshot(self) -> Metadata[Snapshot]:
        version = self.timestamp().signed.snapshot_meta.version
        return Metadata[Snapshot].from_bytes(
            (self.folder / f"{version}.snapshot.json").read_bytes()
        )

    def role(self, name: str) -> Metadata[Targets]:
        """The version of targets or a delegated role the current snapshot lists."""
        version = self.snapshot().signed.meta[f"{name}.json"].version
        return Metadata[Targets].from_bytes((self.folder / f"{version}.{name}.json").read_bytes())

    def _write(self, name: str, metadata: Metadata[Targets] | Metadata[Snapshot]) -> MetaFile:
        data = metadata.to_bytes(SERIALIZER)
        (self.folder / f"{metadata.signed.version}.{name}.json").write_bytes(data)
        return MetaFile(
            metadata.signed.version, len(data), {"sha256": hashlib.sha256(data).hexdigest()}
        )

    def publish(self, roles: dict[str, Metadata[Targets]], online: list[Signer]) -> int:
        """Write ``roles`` (already signed), then a snapshot listing them and a timestamp
        listing that snapshot, both signed with every key in ``online``. Returns the
        new snapshot version."""
        snapshot = self.snapshot()
        for name, metadata in roles.items():
            written = self._write(name, metadata)
            snapshot.signed.meta[f"{name}.json"] = MetaFile(written.version)
        snapshot.signed.version += 1
        sign(snapshot, online)
        snapshot_file = self._write("snapshot", snapshot)
        timestamp = self.timestamp()
        timestamp.signed.version += 1
        timestamp.signed.snapshot_meta = snapshot_file
        sign(timestamp, online)
        (self.folder / "timestamp.json").write_bytes(timestamp.to_bytes(SERIALIZER))
        return snapshot.signed.version


def sign(
    metadata: Metadata[Targets] | Metadata[Snapshot] | Metadata[Timestamp], signers: list[Signer]
) -> None:
    """Replace the signatures of ``metadata`` with one by each of ``signers``."""
    metadata.signatures.clear()
    for signer in signers:
        metadata.sign(signer, append=True)


def list_artifact(role: Metadata[Targets], path: str, data: bytes) -> None:
    """Add ``path`` (the bytes ``data``) to ``role`` as a new version."""
    role.signed.targets[path] = TargetFile.from_data(path, data, ["sha256"])
    role.signed.version += 1


def redelegate(
    targets: Metadata[Targets], role: str, to: Signer, *, ahead: str | None = None
) -> None:
    """A new version of ``targets`` whose delegation ``role`` trusts only ``to``; with
    ``ahead``, a new role of that name trusting ``to`` is added before every other
    delegation over the same paths instead (TUF §5.6.7.2: the first match wins)."""
    delegations = targets.signed.delegations
    assert delegations is not None and delegations.roles is not None
    current = delegations.roles[role]
    key = to.public_key
    if ahead is None:
        for keyid in list(current.keyids):
            targets.signed.revoke_key(keyid, role)
        targets.signed.add_key(key, role)
        current.threshold = 1
    else:
        first = DelegatedRole(ahead, [key.keyid], 1, True, list(current.paths or []))
        delegations.keys[key.keyid] = key
        targets.signed.delegations = Delegations(
            delegations.keys, roles={ahead: first, **delegations.roles}
        )
    targets.signed.version += 1


def new_role(expires: datetime, path: str, data: bytes) -> Metadata[Targets]:
    """Version 1 of a new delegated role listing ``path``."""
    role = Metadata(Targets(version=1, expires=expires))
    role.signed.targets[path] = TargetFile.from_data(path, data, ["sha256"])
    return role

"""Online keys the server makes for a tenant: generating them, their files, which roles use them.

A key made by the server lives in the tenant's online key folder
(``<key dir>/<admin>/<app>/``, built by :func:`tufsync.tenant_keys.key_folder_parts`)
as two files:

* ``<keyid>.pem`` — the private key, unencrypted PKCS8 PEM, exactly what
  :class:`tufsync.tuf.keys.OnlineKeyStore` loads;
* ``<keyid>.made.json`` — what the server made: the public key as it goes into
  root's ``keys`` and when it was made.

Only keys with such a record are the server's to list, count, delete and expire;
keys an operator copied into the folder are never touched. Every step opens
the folders relative to the key dir without following symbolic links; files are
created 0600 (``O_EXCL``, never readable by others, not even for a moment) under
a temporary name and renamed into place, in folders that are 0700. Nothing here
logs or returns private material: generation hands back only the public key.
The functions here do blocking file and CPU work; callers run them in a thread.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from securesystemslib.signer import CryptoSigner, SSlibKey
from tuf.api.metadata import Root, Targets

from tufsync import tenant_keys
from tufsync.tuf.drafts import DraftStore
from tufsync.tuf.errors import NotBootstrapped
from tufsync.tuf.repository import Repository

# The key types a tenant may ask for (the ``keytype`` of POST /tuf/v1/keys/online).
GENERATORS: dict[str, Callable[[], CryptoSigner]] = {
    "ed25519": CryptoSigner.generate_ed25519,
    "ecdsa-sha2-nistp256": CryptoSigner.generate_ecdsa,
    "rsassa-pss-sha256": CryptoSigner.generate_rsa,
}
PRIVATE_SUFFIX = ".pem"
RECORD_SUFFIX = ".made.json"
KEYID_RE = re.compile(r"[0-9a-f]{64}")
MAX_RECORD_BYTES = 64 * 1024
_ROOT_FLAGS = os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS = _ROOT_FLAGS | os.O_NOFOLLOW


@dataclass(frozen=True)
class MadeKey:
    """A key the server made for one tenant: its public key and when it was made."""

    key: SSlibKey
    created: datetime

    @property
    def keyid(self) -> str:
        return self.key.keyid


def generate(keytype: str) -> tuple[SSlibKey, bytes]:
    """A fresh key pair of ``keytype`` (one of :data:`GENERATORS`): its public key and
    the private key as unencrypted PKCS8 PEM. CPU-heavy for RSA."""
    signer = GENERATORS[keytype]()
    public = signer.public_key
    assert isinstance(public, SSlibKey)
    return public, signer.private_bytes


def _open_level(parent: int | Path, name: str | None, create: bool) -> int | None:
    """A descriptor of one level of the key folder, opened without following links
    (the root itself may be a link the operator set up). None when it is missing or
    not a folder and ``create`` is false; created 0700 when ``create``."""
    if isinstance(parent, Path):
        if create:
            parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        flags, path, dir_fd = _ROOT_FLAGS, str(parent), None
    else:
        assert name is not None
        if create:
            with suppress(FileExistsError):
                os.mkdir(name, 0o700, dir_fd=parent)
        flags, path, dir_fd = _DIR_FLAGS, name, parent
    try:
        fd = os.open(path, flags, dir_fd=dir_fd)
    except OSError:
        if create:
            raise
        return None  # missing, or not a folder (a file, a link): no keys of ours
    if create and dir_fd is not None and stat.S_IMODE(os.fstat(fd).st_mode) != 0o700:
        os.fchmod(fd, 0o700)
    return fd


@contextmanager
def _folder(root: Path, ref: tenant_keys.TenantRef, create: bool) -> Iterator[int | None]:
    """A descriptor of the tenant's key folder (None when it does not exist and
    ``create`` is false), each level opened without following links."""
    opened: list[int] = []
    try:
        fd = _open_level(root, None, create)
        parts = iter(tenant_keys.key_folder_parts(ref))
        while fd is not None:
            opened.append(fd)
            part = next(parts, None)
            if part is None:
                break
            fd = _open_level(opened[-1], part, create)
        yield fd
    finally:
        for fd in opened:
            os.close(fd)


def _write_new(folder: int, name: str, data: bytes) -> None:
    """Write ``name`` in ``folder`` atomically: a 0600 temporary file, then a rename."""
    temp = f".{name}.{secrets.token_hex(8)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(temp, flags, 0o600, dir_fd=folder)
    try:
        try:
            os.fchmod(fd, 0o600)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temp, name, src_dir_fd=folder, dst_dir_fd=folder)
    except BaseException:
        with suppress(OSError):
            os.unlink(temp, dir_fd=folder)
        raise


def store(
    root: Path, ref: tenant_keys.TenantRef, key: SSlibKey, pem: bytes, now: datetime
) -> MadeKey:
    """Put a generated key into the tenant's folder: the private key first, then its record."""
    record = json.dumps({"key": key.to_dict(), "created": now.isoformat()}, sort_keys=True)
    with _folder(root, ref, create=True) as folder:
        assert folder is not None
        _write_new(folder, key.keyid + PRIVATE_SUFFIX, pem)
        _write_new(folder, key.keyid + RECORD_SUFFIX, record.encode())
        os.fsync(folder)
    return MadeKey(key, now)


def _regular_file(folder: int, name: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _read_record(folder: int, keyid: str) -> MadeKey | None:
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(keyid + RECORD_SUFFIX, flags, dir_fd=folder)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        raw = handle.read(MAX_RECORD_BYTES + 1)
    try:
        data = json.loads(raw)
        key = SSlibKey.from_dict(keyid, dict(data["key"]))
        created = datetime.fromisoformat(data["created"])
    except (ValueError, KeyError, TypeError):
        return None
    return MadeKey(key, created) if created.tzinfo is not None else None


def made_keys(root: Path, ref: tenant_keys.TenantRef) -> list[MadeKey]:
    """The keys the server made for the tenant that are still in its folder, oldest first."""
    with _folder(root, ref, create=False) as folder:
        if folder is None:
            return []
        found: list[MadeKey] = []
        for name in os.listdir(folder):
            keyid = name.removesuffix(RECORD_SUFFIX)
            if keyid == name or not KEYID_RE.fullmatch(keyid):
                continue
            if not _regular_file(folder, keyid + PRIVATE_SUFFIX):
                continue
            made = _read_record(folder, keyid)
            if made is not None:
                found.append(made)
    return sorted(found, key=lambda m: (m.created, m.keyid))


def find(root: Path, ref: tenant_keys.TenantRef, keyid: str) -> MadeKey | None:
    """The key ``keyid`` if the server made it for this tenant (and only this one)."""
    if not KEYID_RE.fullmatch(keyid):
        return None
    with _folder(root, ref, create=False) as folder:
        if folder is None or not _regular_file(folder, keyid + PRIVATE_SUFFIX):
            return None
        return _read_record(folder, keyid)


def remove(root: Path, ref: tenant_keys.TenantRef, keyid: str) -> bool:
    """Delete a key the server made (private key first, then its record); whether it was there."""
    if not KEYID_RE.fullmatch(keyid):
        return False
    with _folder(root, ref, create=False) as folder:
        if folder is None:
            return False
        removed = False
        for name in (keyid + PRIVATE_SUFFIX, keyid + RECORD_SUFFIX):
            try:
                os.unlink(name, dir_fd=folder)
                removed = True
            except FileNotFoundError:
                pass
        os.fsync(folder)
        return removed


def tenants_with_keys(root: Path) -> list[tenant_keys.TenantRef]:
    """Every (admin, app) whose folder under ``root`` holds a record of a made key.
    Folders whose names break the naming rules are not tenants and are skipped."""
    out: list[tenant_keys.TenantRef] = []
    try:
        admins = sorted(os.listdir(root))
    except OSError:
        return []
    for admin in admins:
        try:
            apps = sorted(os.listdir(root / admin))
        except OSError:
            continue
        for app in apps:
            try:
                ref = tenant_keys.TenantRef(admin, app)
                names = os.listdir(tenant_keys.key_folder(root, ref))
            except (ValueError, OSError):
                continue
            if any(n.endswith(RECORD_SUFFIX) for n in names):
                out.append(ref)
    return out


def _delegator_roles(delegator: Root | Targets, uses: dict[str, list[str]]) -> None:
    if isinstance(delegator, Root):
        for name, role in delegator.roles.items():
            for keyid in role.keyids:
                uses.setdefault(keyid, []).append(name)
        return
    delegations = delegator.delegations
    if delegations is None:
        return
    for name, delegated in (delegations.roles or {}).items():
        for keyid in delegated.keyids:
            uses.setdefault(keyid, []).append(name)
    if delegations.succinct_roles is not None:
        succinct = delegations.succinct_roles
        for keyid in succinct.keyids:
            uses.setdefault(keyid, []).append(f"{succinct.name_prefix}-* (hash bins)")


async def roles_using(repo: Repository) -> dict[str, list[str]]:
    """keyid -> the roles that use it in the repository's published metadata (root and
    targets' delegations), and in a root awaiting signatures (TUF spec §5.3.7: once
    published, it names the keys clients trust for each role)."""
    uses: dict[str, list[str]] = {}
    try:
        trusted = await repo.trusted()
    except NotBootstrapped:
        trusted = None
    if trusted is not None:
        _delegator_roles(trusted.root.signed, uses)
        _delegator_roles(trusted.targets.signed, uses)
    draft = await DraftStore(repo).get("root")
    if draft is not None:
        pending: dict[str, list[str]] = {}
        try:
            root = draft.parsed().signed
        except (ValueError, KeyError, TypeError):
            root = None
        if isinstance(root, Root):
            _delegator_roles(root, pending)
            for keyid, roles in pending.items():
                for role in roles:
                    uses.setdefault(keyid, []).append(
                        f"{role} (root v{root.version} awaiting signatures)"
                    )
    return {keyid: sorted(dict.fromkeys(roles)) for keyid, roles in uses.items()}

"""Download and verify one artifact exactly as an update client does (python-tuf ngclient)."""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tuf.ngclient import Updater, UpdaterConfig

from tufsync import tenant_keys


@dataclass(frozen=True)
class VerifiedTarget:
    path: str
    local_file: Path
    length: int
    sha256: str


class TargetNotFound(Exception):
    """The trusted metadata does not list the requested target."""


def verify_download(
    public_url: str,
    admin: str,
    app: str,
    trusted_root: Path,
    target: str,
    dest: Path,
    metadata_dir: Path | None = None,
) -> VerifiedTarget:
    """Refresh metadata from ``public_url`` starting at ``trusted_root``; download ``target``."""
    base = public_url.rstrip("/")
    meta_dir = metadata_dir or Path(tempfile.mkdtemp(prefix="tufsync-verify-"))
    meta_dir.mkdir(parents=True, exist_ok=True)
    cached_root = meta_dir / "root.json"
    # A client that already refreshed keeps its own newer root; a new one starts from ours.
    bootstrap = None if cached_root.exists() else trusted_root.read_bytes()
    dest.mkdir(parents=True, exist_ok=True)
    ref = tenant_keys.TenantRef(admin, app)
    updater = Updater(
        metadata_dir=str(meta_dir),
        metadata_base_url=f"{base}/{tenant_keys.metadata_prefix(ref)}",
        target_base_url=f"{base}/",
        target_dir=str(dest),
        config=UpdaterConfig(prefix_targets_with_hash=False),
        bootstrap=bootstrap,
    )
    updater.refresh()
    info = updater.get_targetinfo(target)
    if info is None:
        raise TargetNotFound(f"target {target!r} is not in the trusted metadata")
    local = Path(updater.download_target(info, filepath=str(dest / Path(target).name)))
    data = local.read_bytes()
    return VerifiedTarget(target, local, len(data), hashlib.sha256(data).hexdigest())

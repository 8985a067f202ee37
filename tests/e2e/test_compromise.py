"""A compromised server cannot release into a role whose keys it does not hold.

The repository's targets role and its delegated role ``default`` are both signed
offline by their holders (docs/design.md §11). The attacker takes everything the
server has — its data folder (database, state store, logs) and every online key
(snapshot, timestamp) — and writes straight into the public metadata folder:

(a) a new ``default`` listing a malicious artifact, signed with every online key;
(b) a new ``targets`` that re-delegates ``default`` (or puts a new role ahead of
    it) to a key the attacker holds, with that role listing the malicious artifact;
(c) a renewal of ``default`` (same targets, version + 1, a later expiry) signed
    online;

each time with snapshot and timestamp validly re-signed by the online keys.
python-tuf's ngclient and tuf-js, fresh (from root v1) or already holding the
good artifact, refuse it, write nothing of it, and keep the good artifact as it
was. The last test shows the limitation the docs warn about: with targets
online, the same server re-delegates the role and clients accept the forgery.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from securesystemslib.signer import CryptoSigner, Signer
from tuf.api.exceptions import UnsignedMetadataError
from tuf.api.metadata import Metadata, Snapshot

from tests import forge
from tests.e2e.test_tufjs_client import tufjs
from tests.support import Api, OfflineRole, ServerProcess, offline_role, sign_pending, unique_name
from tufsync.keyholder.verify import verify_download

pytestmark = pytest.mark.slow

GOOD = b"the release its holders signed"
EVIL = b"what the attacker wants installed"


@dataclass
class Repository:
    """A repository with one good artifact released through its offline role."""

    api: Api
    app: str
    setup: OfflineRole
    trusted_root: Path
    good_path: str
    evil_path: str
    folder: Path
    pristine: Path
    holder: Path

    @property
    def evil_file(self) -> Path:
        return self.api.server.public_dir / self.evil_path

    def steal(self) -> forge.Loot:
        server = self.api.server
        return forge.steal(server.data_dir, server.key_dir, self.api.username, self.app)

    def restore(self) -> None:
        """Put back the public metadata as the server wrote it, and drop the evil file."""
        shutil.rmtree(self.folder)
        shutil.copytree(self.pristine, self.folder, copy_function=shutil.copyfile)
        self.evil_file.unlink(missing_ok=True)


def _release(server: ServerProcess, workdir: Path, *, targets_offline: bool) -> Repository:
    """Bootstrap ``default`` offline (and targets, when asked), publish GOOD and have
    its holder sign it; then let one ngclient and one tuf-js client download it."""
    api = Api(server, unique_name())
    app = "compromise"
    holder = CryptoSigner.generate_ed25519()
    setup = offline_role(api, app, [holder], 1, targets_offline=targets_offline)
    api.bootstrap_ok(setup.payload)
    version_id = api.upload_ok(app, "1.0", {"a.deb": GOOD})
    task = api.publish_ok(version_id, "1.0")
    assert task["result"]["details"]["awaiting_signatures"] == {"default": 2}, task
    signed = sign_pending(api, app, "default", holder)
    assert signed.status_code == 200, signed.text
    assert api.wait_task(signed.json()["data"]["task_id"])["state"] == "SUCCESS"

    prefix = f"{app}-{api.username}"
    repo = Repository(
        api=api,
        app=app,
        setup=setup,
        trusted_root=workdir / "root.json",
        good_path=f"{prefix}/{app}-1.0.deb",
        evil_path=f"{prefix}/{app}-6.6.6.deb",
        folder=api.server.public_dir / "tuf_metadata" / api.username / app,
        pristine=workdir / "pristine",
        holder=workdir / "holder",
    )
    repo.trusted_root.write_bytes(setup.root_bytes)
    ng = _ng(repo, repo.holder / "ng", repo.good_path)
    assert ng == GOOD
    js = _js(repo, repo.holder / "js", repo.good_path)
    assert js["ok"], js
    assert Path(js["file"]).read_bytes() == GOOD
    # What the server published, as the holders' clients last saw it.
    shutil.copytree(repo.folder, repo.pristine)
    return repo


def _ng(repo: Repository, state: Path, path: str) -> bytes:
    """ngclient (as ``tufsync verify`` runs it) from ``state``, or from root v1."""
    got = verify_download(
        repo.api.server.public_url,
        repo.api.username,
        repo.app,
        repo.trusted_root,
        path,
        state / "targets",
        metadata_dir=state / "meta",
    )
    return got.local_file.read_bytes()


def _js(repo: Repository, state: Path, path: str) -> dict[str, Any]:
    """tuf-js from ``state``, or from root v1 when ``state`` is new."""
    if not (state / "meta" / "root.json").exists():
        (state / "meta").mkdir(parents=True)
        (state / "targets").mkdir()
        shutil.copy(repo.trusted_root, state / "meta" / "root.json")
    [result] = tufjs(repo.api, repo.app, state, [path])["results"]
    return dict(result)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def offline(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Repository:
    return _release(server, tmp_path_factory.mktemp("offline"), targets_offline=True)


@dataclass
class Clients:
    """Client state for one attack: the holders' (copied from after the good release)
    and fresh ones."""

    holder: Path
    fresh: Path


@pytest.fixture
def attack(offline: Repository, tmp_path: Path) -> Iterator[Clients]:
    offline.restore()
    holder = tmp_path / "holder"
    shutil.copytree(offline.holder, holder)
    yield Clients(holder, tmp_path / "fresh")
    offline.restore()


def _stolen(repo: Repository) -> list[Signer]:
    """Every online key, after checking the server holds no offline private key."""
    loot = repo.steal()
    assert loot.online, "the server's key folder holds the online key"
    taken = {path.name for path in loot.files}
    assert {"tufsync.db", "state.db"} <= taken, "the database and state store are taken too"
    offline_keys = [*repo.setup.holders]
    if repo.setup.targets_signer is not None:
        offline_keys.append(repo.setup.targets_signer)
    for signer in offline_keys:
        for secret in forge.private_secrets(signer):
            assert not loot.holds(secret), "the server must never hold an offline private key"
    return loot.online


def _refused(repo: Repository, clients: Clients, path: str, *, role: str) -> None:
    """Both clients, fresh and holding GOOD, refuse ``path`` because ``role`` is not
    signed by its keys; nothing of it is written and GOOD stays as it was."""
    held_before = {name: _files(clients.holder / name) for name in ("ng", "js")}
    message = f"{role} was signed by 0/1 keys"

    for state in (clients.fresh / "ng", clients.holder / "ng"):
        with pytest.raises(UnsignedMetadataError, match=message):
            _ng(repo, state, path)
    for state in (clients.fresh / "js", clients.holder / "js"):
        result = _js(repo, state, path)
        assert not result["ok"], result
        # tuf-js wraps a delegated role it cannot verify in a RuntimeError.
        assert result["kind"] in ("UnsignedMetadataError", "RuntimeError"), result
        assert message in result["error"], result

    for client in ("ng", "js"):
        assert not any((clients.fresh / client / "targets").iterdir())
        after = _files(clients.holder / client)
        targets = {k: v for k, v in after.items() if k.startswith("targets")}
        assert targets == {k: v for k, v in held_before[client].items() if k.startswith("targets")}
        assert list(targets.values()) == [GOOD]
        # The refused role is not cached: a later refresh starts from the good one.
        cached = f"meta/{role}.json"
        assert after[cached] == held_before[client][cached]


def test_a_role_forged_with_every_online_key_is_refused(
    offline: Repository, attack: Clients
) -> None:
    online = _stolen(offline)
    repo = forge.PublicRepository(offline.folder)
    default = repo.role("default")
    forge.list_artifact(default, offline.evil_path, EVIL)
    forge.sign(default, online)
    offline.evil_file.write_bytes(EVIL)
    snapshot = repo.publish({"default": default}, online)

    _refused(offline, attack, offline.evil_path, role="default")
    # Snapshot and timestamp were valid: the clients took them, only the role is refused.
    for client in ("ng", "js"):
        cached = (attack.holder / client / "meta" / "snapshot.json").read_bytes()
        assert Metadata[Snapshot].from_bytes(cached).signed.version == snapshot


@pytest.mark.parametrize("how", ["redelegate", "ahead"])
def test_a_targets_redelegating_the_role_to_the_attacker_is_refused(
    offline: Repository, attack: Clients, how: str
) -> None:
    online = _stolen(offline)
    attacker = CryptoSigner.generate_ed25519()
    repo = forge.PublicRepository(offline.folder)
    targets = repo.role("targets")
    if how == "redelegate":
        forge.redelegate(targets, "default", attacker)
        forged = repo.role("default")
        forge.list_artifact(forged, offline.evil_path, EVIL)
        name = "default"
    else:
        forge.redelegate(targets, "default", attacker, ahead="attacker")
        forged = forge.new_role(targets.signed.expires, offline.evil_path, EVIL)
        name = "attacker"
    forge.sign(targets, [*online, attacker])
    forge.sign(forged, [attacker])
    offline.evil_file.write_bytes(EVIL)
    repo.publish({"targets": targets, name: forged}, online)

    _refused(offline, attack, offline.evil_path, role="targets")


def test_a_renewal_forged_with_the_online_keys_is_refused(
    offline: Repository, attack: Clients
) -> None:
    online = _stolen(offline)
    repo = forge.PublicRepository(offline.folder)
    default = repo.role("default")
    default.signed.version += 1
    default.signed.expires += timedelta(days=365)
    forge.sign(default, online)
    repo.publish({"default": default}, online)

    _refused(offline, attack, offline.good_path, role="default")


def test_limitation_with_targets_online_a_compromised_server_redelegates_the_role(
    server: ServerProcess, tmp_path: Path
) -> None:
    """The limitation docs/design.md §11 warns about: when the server holds the targets
    key, owning the server is enough to re-delegate an offline role to a key the
    attacker holds, and clients install the attacker's artifact. Offline targets is
    what the tests above need."""
    online_targets = _release(server, tmp_path, targets_offline=False)
    online = _stolen(online_targets)
    attacker = CryptoSigner.generate_ed25519()
    repo = forge.PublicRepository(online_targets.folder)
    targets = repo.role("targets")
    forge.redelegate(targets, "default", attacker)
    forge.sign(targets, online)
    forged = repo.role("default")
    forge.list_artifact(forged, online_targets.evil_path, EVIL)
    forge.sign(forged, [attacker])
    online_targets.evil_file.write_bytes(EVIL)
    repo.publish({"targets": targets, "default": forged}, online)

    for state in (tmp_path / "fresh", online_targets.holder):
        assert _ng(online_targets, state / "ng", online_targets.evil_path) == EVIL
        result = _js(online_targets, state / "js", online_targets.evil_path)
        assert result["ok"], result
        assert Path(result["file"]).read_bytes() == EVIL

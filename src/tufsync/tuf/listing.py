"""Which roles of a repository's published metadata list a target path.

A client looks a target up by walking the delegation tree from ``targets``
(https://theupdateframework.github.io/specification/latest/#update-targets,
step 7). Removals, uploads and rotations need the other direction: every role
that lists a path, wherever the delegation order would place it today. Named
roles are all searched (a rotation may have put a role ahead of the one that
lists the path, or changed its patterns); hash bins only in the one bin a path
maps to. Every file read goes through the metadata cache (immutable versioned
files, see :mod:`tufsync.tuf.metastore`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tuf.api.metadata import Metadata, TargetFile, Targets

from tufsync.tuf.repository import Repository

# The current version of a targets-type role, or None when it is not published.
RoleLoader = Callable[[str], Awaitable[Metadata[Targets] | None]]

# Hash algorithms the registry records for every artifact (see docs/compatibility.md).
KNOWN_HASHES = ("sha256", "sha512")


async def roles_listing(load: RoleLoader, path: str) -> list[tuple[str, TargetFile]]:
    """(role, its entry) for every role reachable from ``targets`` that lists ``path``,
    in the order a client would search them."""
    found: list[tuple[str, TargetFile]] = []
    seen: set[str] = set()
    queue = ["targets"]
    while queue:
        role = queue.pop(0)
        if role in seen:
            continue
        seen.add(role)
        md = await load(role)
        if md is None:
            continue
        entry = md.signed.targets.get(path)
        if entry is not None:
            found.append((role, entry))
        delegations = md.signed.delegations
        if delegations is None:
            continue
        if delegations.succinct_roles is not None:
            queue.append(delegations.succinct_roles.get_role_for_target(path))
        else:
            queue.extend(delegations.roles or {})
    return found


def published_loader(repo: Repository) -> RoleLoader:
    """A loader of the roles the published ``timestamp.json`` points to (one existence
    check, then one fresh read of ``timestamp.json``; snapshot and roles come from the
    metadata cache)."""
    state: dict[str, Metadata[Targets] | None] = {}
    snapshot_meta: dict[str, int] = {}
    started = False

    async def load(role: str) -> Metadata[Targets] | None:
        nonlocal started
        if not started:
            started = True
            # Most uploads go to apps without TUF: an existence check is far cheaper
            # than a read that fails (local store: about 5 us against 200 us of CPU).
            if not await repo.files.timestamp_exists():
                return None
            snapshot_version = await repo.files.published_snapshot_version()
            if snapshot_version is None:
                return None
            snapshot = await repo.files.snapshot(snapshot_version)
            if snapshot is None:
                return None
            snapshot_meta.update({n: m.version for n, m in snapshot.signed.meta.items()})
        if role in state:
            return state[role]
        version = snapshot_meta.get(f"{role}.json")
        md = None if version is None else await repo.files.targets_role(role, version)
        state[role] = md
        return md

    return load


def same_content(entry: TargetFile, length: int, hashes: dict[str, str]) -> bool:
    """True when ``entry`` describes a file of ``length`` with ``hashes`` (every
    algorithm both sides know must agree)."""
    if entry.length != length:
        return False
    common = [a for a in KNOWN_HASHES if a in entry.hashes and a in hashes]
    return bool(common) and all(entry.hashes[a] == hashes[a] for a in common)


async def listed_entries(repo: Repository, paths: list[str]) -> dict[str, list[TargetFile]]:
    """The entries the repository's published metadata has for each of ``paths``
    (paths listed nowhere are left out)."""
    load = published_loader(repo)
    out: dict[str, list[TargetFile]] = {}
    for path in paths:
        found = await roles_listing(load, path)
        if found:
            out[path] = [entry for _role, entry in found]
    return out

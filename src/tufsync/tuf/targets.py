"""Adding and removing target files, each in the role whose paths cover it."""

from __future__ import annotations

from dataclasses import dataclass

from tuf.api.metadata import Delegations, Metadata, TargetFile, Targets

from tufsync.tuf.changes import MetadataChange
from tufsync.tuf.errors import TufInputError
from tufsync.tuf.listing import roles_listing


@dataclass(frozen=True)
class TargetSpec:
    """One artifact to sign: its path, length and hashes (hex)."""

    path: str
    length: int
    hashes: dict[str, str]


def delegated_role_names(delegations: Delegations | None) -> list[str]:
    """Every role delegated by ``delegations``: named roles or all hash bins."""
    if delegations is None:
        return []
    if delegations.succinct_roles is not None:
        return list(delegations.succinct_roles.get_roles())
    return list(delegations.roles or {})


@dataclass(frozen=True)
class Placement:
    """Where a target goes: its role, and whether its exact path must be added to
    that role's ``paths`` in targets (matched only by faynoSync's prefix rule)."""

    role: str
    add_path: bool = False
    new_paths: tuple[str, ...] = ()


LEGACY_DEFAULT_PATTERN = "*/*/*/*"


def _legacy_default_upgrade(name: str, paths: list[str], path: str) -> tuple[str, ...]:
    """The per-depth patterns that replace a legacy ``default`` role's paths.

    Repositories bootstrapped before the default layout left out empty segments
    delegate to ``default`` with the single pattern ``<app>-<admin>/*/*/*/*``.
    Their paths are widened to one pattern per depth (a superset, so every path
    listed before stays covered); nothing else ever matches here.
    """
    if name != "default" or len(paths) != 1 or not paths[0].endswith(LEGACY_DEFAULT_PATTERN):
        return ()
    prefix = paths[0][: -len(LEGACY_DEFAULT_PATTERN)]
    if not prefix.endswith("/") or "*" in prefix or not path.startswith(prefix):
        return ()
    if path[len(prefix) :].count("/") > 3:  # deeper than the layout: no pattern covers it
        return ()
    return tuple(prefix + "/".join(["*"] * depth) for depth in range(1, 5))


def _prefix_match(pattern: str, path: str) -> bool:
    """faynoSync's publishing rule: ``<prefix>/*`` matches any path under ``<prefix>/``."""
    return pattern.endswith("/*") and path.startswith(pattern[:-1])


def tuf_placement(delegations: Delegations, path: str) -> Placement | None:
    """The first role, in delegation order, whose path patterns match ``path`` under TUF
    rules (``*`` never crosses ``/``).

    https://theupdateframework.github.io/specification/latest/#file-formats-targets
    (PATHPATTERN) and
    https://theupdateframework.github.io/specification/latest/#update-targets (step 7:
    delegations are searched in order of appearance).
    """
    for role, _terminating in delegations.get_roles_for_target(path):
        return Placement(role)
    return None


def prefix_placement(delegations: Delegations, path: str) -> Placement | None:
    """The first role with a ``<prefix>/*`` pattern covering ``path`` under faynoSync's
    rule; its exact path is then added to the role's paths in targets (signed online,
    or drafted for the targets key holders when targets is offline)."""
    for name, drole in (delegations.roles or {}).items():
        if any(_prefix_match(p, path) for p in drole.paths or []):
            return Placement(name, add_path=True)
    return None


def legacy_placement(delegations: Delegations, path: str, targets_online: bool) -> Placement | None:
    """The legacy ``default`` role, widened to every depth (targets online only)."""
    if not targets_online:
        return None
    for name, drole in (delegations.roles or {}).items():
        upgrade = _legacy_default_upgrade(name, list(drole.paths or []), path)
        if upgrade:
            return Placement(name, new_paths=upgrade)
    return None


def role_for_target(targets: Targets, path: str, targets_online: bool) -> Placement:
    """The delegated role that must list ``path`` (docs/api.md §5.3).

    The first role, in delegation order, whose paths match under TUF rules;
    failing that, the first whose ``<prefix>/*`` pattern covers the path under
    faynoSync's rule, the exact path then being added to that role's paths (in a
    targets draft when targets is signed offline). A repository of the legacy layout
    has its server-made ``default`` role widened to every depth (targets online).
    No match: the path cannot be signed.
    """
    delegations = targets.delegations
    if delegations is not None:
        placement = (
            tuf_placement(delegations, path)
            or prefix_placement(delegations, path)
            or legacy_placement(delegations, path, targets_online)
        )
        if placement is not None:
            return placement
    raise TufInputError(f"no delegated role's paths match target path {path!r}")


async def add_targets(change: MetadataChange, specs: list[TargetSpec]) -> dict[str, str]:
    """Add ``specs`` to their roles; return path → role.

    A role the server cannot sign gets the path in its draft. When the path must be
    added to a role's patterns in an offline targets, the role's new version is
    drafted too, to be published with that targets draft: a client must never be
    shown a role listing a path its published targets does not delegate to it.
    Every role is opened before any is changed, so a role that cannot be opened
    (a key rotation awaiting signatures) leaves the change as it was."""
    trusted_targets = change.trusted.targets.signed
    online = change.config.targets_online_key
    placements = [(spec, role_for_target(trusted_targets, spec.path, online)) for spec in specs]
    opened: dict[str, Metadata[Targets]] = {}
    for _spec, where in placements:
        edits_targets = bool(where.add_path or where.new_paths)
        if edits_targets:
            opened["targets"] = await change.open("targets")
        as_draft = edits_targets and not change.can_sign("targets")
        opened.setdefault(where.role, await change.open(where.role, as_draft=as_draft))
    placed: dict[str, str] = {}
    for spec, where in placements:
        if where.add_path or where.new_paths:
            delegations = opened["targets"].signed.delegations
            assert delegations is not None
            delegated = (delegations.roles or {})[where.role]
            if where.new_paths:
                delegated.paths = list(where.new_paths)
            elif delegated.paths is not None and spec.path not in delegated.paths:
                delegated.paths.append(spec.path)
        entry = TargetFile(spec.length, dict(spec.hashes), spec.path)
        opened[where.role].signed.targets[spec.path] = entry
        placed[spec.path] = where.role
    return placed


async def remove_targets(change: MetadataChange, paths: list[str]) -> dict[str, str]:
    """Remove ``paths`` from every role listing them, wherever the current delegation
    order would place them (a rotation may have put another role ahead of the one
    that lists a path); return path → role (the first, in search order) for those
    found."""
    removed: dict[str, str] = {}
    for path in paths:
        for role, _entry in await roles_listing(change.current_role, path):
            md = await change.open(role)
            del md.signed.targets[path]
            removed.setdefault(path, role)
    return removed

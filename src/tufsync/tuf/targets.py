"""Adding and removing target files, each in the role whose paths cover it."""

from __future__ import annotations

from dataclasses import dataclass

from tuf.api.metadata import Delegations, TargetFile, Targets

from tufsync.tuf.changes import MetadataChange
from tufsync.tuf.errors import TufInputError


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


def _prefix_match(pattern: str, path: str) -> bool:
    """faynoSync's publishing rule: ``<prefix>/*`` matches any path under ``<prefix>/``."""
    return pattern.endswith("/*") and path.startswith(pattern[:-1])


def role_for_target(targets: Targets, path: str, targets_online: bool) -> Placement:
    """The delegated role that must list ``path`` (API.md §5.3).

    The first role, in delegation order, whose paths match under TUF rules;
    failing that, the first whose ``<prefix>/*`` pattern covers the path under
    faynoSync's rule, the exact path then being added to that role's paths (only
    possible when the server signs targets). No match: the path cannot be signed.
    """
    delegations = targets.delegations
    if delegations is not None:
        for role, _terminating in delegations.get_roles_for_target(path):
            return Placement(role)
        for name, drole in (delegations.roles or {}).items():
            if any(_prefix_match(p, path) for p in drole.paths or []):
                if not targets_online:
                    raise TufInputError(
                        f"target path {path!r} matches role {name!r} only by prefix, and "
                        "targets is signed offline, so the server cannot add the path to "
                        "that role's paths; add a TUF pattern covering it through a "
                        "delegated rotation"
                    )
                return Placement(name, add_path=True)
    raise TufInputError(f"no delegated role's paths match target path {path!r}")


async def add_targets(change: MetadataChange, specs: list[TargetSpec]) -> dict[str, str]:
    """Add ``specs`` to their roles; return path → role."""
    placed: dict[str, str] = {}
    for spec in specs:
        where = role_for_target(
            change.trusted.targets.signed, spec.path, change.config.targets_online_key
        )
        if where.add_path:
            targets = await change.open("targets")
            assert targets.signed.delegations is not None
            roles = targets.signed.delegations.roles or {}
            paths = roles[where.role].paths
            if paths is not None and spec.path not in paths:
                paths.append(spec.path)
        md = await change.open(where.role)
        md.signed.targets[spec.path] = TargetFile(spec.length, dict(spec.hashes), spec.path)
        placed[spec.path] = where.role
    return placed


async def remove_targets(change: MetadataChange, paths: list[str]) -> dict[str, str]:
    """Remove ``paths`` from the roles listing them; return path → role for those found."""
    removed: dict[str, str] = {}
    for path in paths:
        try:
            role = role_for_target(change.trusted.targets.signed, path, True).role
        except TufInputError:
            continue
        if not await change.lists_target(role, path):
            continue
        md = await change.open(role)
        del md.signed.targets[path]
        removed[path] = role
    return removed

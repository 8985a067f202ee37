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


def role_for_target(targets: Targets, path: str, targets_online: bool) -> str:
    """The role that must list ``path``: the first delegated role whose paths match.

    Falls back to top-level targets when no delegation matches and targets is
    signed online; otherwise the path cannot be signed.
    """
    if targets.delegations is not None:
        for role, _terminating in targets.delegations.get_roles_for_target(path):
            return role
    if targets_online:
        return "targets"
    raise TufInputError(f"no delegated role covers target path {path!r}")


async def add_targets(change: MetadataChange, specs: list[TargetSpec]) -> dict[str, str]:
    """Add ``specs`` to their roles; return path → role."""
    placed: dict[str, str] = {}
    for spec in specs:
        role = role_for_target(
            change.trusted.targets.signed, spec.path, change.config.targets_online_key
        )
        md = await change.open(role)
        md.signed.targets[spec.path] = TargetFile(spec.length, dict(spec.hashes), spec.path)
        placed[spec.path] = role
    return placed


async def remove_targets(change: MetadataChange, paths: list[str]) -> dict[str, str]:
    """Remove ``paths`` from the roles listing them; return path → role for those found."""
    removed: dict[str, str] = {}
    for path in paths:
        try:
            role = role_for_target(
                change.trusted.targets.signed, path, change.config.targets_online_key
            )
        except TufInputError:
            continue
        if not await change.lists_target(role, path):
            continue
        md = await change.open(role)
        del md.signed.targets[path]
        removed[path] = role
    return removed

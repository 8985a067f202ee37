"""What a pending draft changes against the trusted version, as a key holder reads it.

``GET /tuf/v1/metadata/sign`` lists each draft next to ``trusted_<role>``
(docs/api.md, "Pending drafts"). Before a holder signs, :func:`diff_draft` says
what the signature would vouch for: target paths added, removed or changed
(length, sha256), delegations added, removed or changed (keys, threshold,
paths), for root the keys and thresholds of its roles, the version and
expiry, and the signatures collected against the threshold the delegating
role sets (TUF specification §5.3.4 for root's two thresholds, §5.6 for
targets and delegated roles). Pure: it reads JSON dictionaries and returns data.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

_SENTENCE = re.compile(r"\.\s+(?=The \S+ draft\b)")


@dataclass(frozen=True)
class TargetFile:
    path: str
    length: int | None
    sha256: str | None

    def text(self) -> str:
        return f"{self.path} ({self.length} bytes, sha256 {self.sha256})"


@dataclass(frozen=True)
class TargetChange:
    path: str
    old: TargetFile
    new: TargetFile


@dataclass(frozen=True)
class RoleChange:
    """A delegation (or, in root, a top-level role) whose keys or rules changed."""

    name: str
    keys_added: list[str] = field(default_factory=list)
    keys_removed: list[str] = field(default_factory=list)
    threshold: tuple[int | None, int | None] | None = None
    paths_added: list[str] = field(default_factory=list)
    paths_removed: list[str] = field(default_factory=list)
    terminating: tuple[bool | None, bool | None] | None = None

    def lines(self, kind: str) -> list[str]:
        head = f"{kind} {self.name}:"
        out = [f"{head} keys added {k}" for k in self.keys_added]
        out += [f"{head} keys removed {k}" for k in self.keys_removed]
        if self.threshold is not None:
            out.append(f"{head} threshold {self.threshold[0]} -> {self.threshold[1]}")
        out += [f"{head} path added {p}" for p in self.paths_added]
        out += [f"{head} path removed {p}" for p in self.paths_removed]
        if self.terminating is not None:
            out.append(f"{head} terminating {self.terminating[0]} -> {self.terminating[1]}")
        return out


@dataclass(frozen=True)
class Signing:
    """Signatures over the draft by the keys of one side (root has two: §5.3.4)."""

    side: str
    threshold: int
    keyids: list[str]
    signed: list[str]

    @property
    def complete(self) -> bool:
        return len(self.signed) >= self.threshold

    @property
    def missing(self) -> list[str]:
        return [k for k in self.keyids if k not in self.signed]

    def text(self) -> str:
        who = f"{self.side} " if self.side else ""
        return f"signatures {who}{len(self.signed)}/{self.threshold} (keys {self.keyids})"


@dataclass(frozen=True)
class DraftDiff:
    role: str
    trusted_version: int | None
    version: int
    trusted_expires: str | None
    expires: str
    targets_added: list[TargetFile] = field(default_factory=list)
    targets_removed: list[TargetFile] = field(default_factory=list)
    targets_changed: list[TargetChange] = field(default_factory=list)
    delegations_added: list[str] = field(default_factory=list)
    delegations_removed: list[str] = field(default_factory=list)
    delegations_changed: list[RoleChange] = field(default_factory=list)
    root_roles_changed: list[RoleChange] = field(default_factory=list)
    signing: list[Signing] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def needs(self, keyid: str) -> bool:
        """``keyid`` is one of the keys that may sign this draft and has not yet."""
        return any(keyid in s.missing for s in self.signing)

    @property
    def complete(self) -> bool:
        return bool(self.signing) and all(s.complete for s in self.signing)

    def lines(self) -> list[str]:
        """The diff as sentences, one per change."""
        out = [f"version {self.trusted_version} -> {self.version}"]
        if self.expires != self.trusted_expires:
            out.append(f"expires {self.trusted_expires} -> {self.expires}")
        out += [f"target added: {t.text()}" for t in self.targets_added]
        out += [f"target removed: {t.text()}" for t in self.targets_removed]
        out += [
            f"target changed: {c.path} ({c.old.length} -> {c.new.length} bytes, "
            f"sha256 {c.old.sha256} -> {c.new.sha256})"
            for c in self.targets_changed
        ]
        out += [f"delegation added: {name}" for name in self.delegations_added]
        out += [f"delegation removed: {name}" for name in self.delegations_removed]
        for change in self.delegations_changed:
            out += change.lines("delegation")
        for change in self.root_roles_changed:
            out += change.lines("role")
        if len(out) == 1:
            out.append("no changes besides the version")
        out += [s.text() for s in self.signing]
        return out + self.notes

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["complete"] = self.complete
        return data


def diff_draft(
    role: str,
    draft: dict[str, Any],
    trusted: dict[str, Any] | None,
    delegator: dict[str, Any] | None,
    message: str = "",
) -> DraftDiff:
    """What ``draft`` (a role's metadata, signed part and signatures) changes against
    ``trusted`` (the same role's trusted metadata, None for a role not yet published).

    ``delegator`` is the ``signed`` part of the role that sets who signs ``role``:
    the trusted root for root and targets, the (draft or trusted) targets for a
    delegated role; None when unknown. ``message`` is the signing queue's
    message; its sentences about ``role``'s draft become :attr:`DraftDiff.notes`.
    """
    new: dict[str, Any] = draft.get("signed", {})
    old: dict[str, Any] = (trusted or {}).get("signed", {})
    added, removed, changed = _target_changes(old.get("targets") or {}, new.get("targets") or {})
    d_added, d_removed, d_changed = _delegation_changes(
        old.get("delegations") or {}, new.get("delegations") or {}
    )
    root_changes = (
        _root_role_changes(old.get("roles") or {}, new.get("roles") or {}) if role == "root" else []
    )
    return DraftDiff(
        role=role,
        trusted_version=old.get("version") if trusted else None,
        version=int(new.get("version", 0)),
        trusted_expires=old.get("expires") if trusted else None,
        expires=str(new.get("expires")),
        targets_added=added,
        targets_removed=removed,
        targets_changed=changed,
        delegations_added=d_added,
        delegations_removed=d_removed,
        delegations_changed=d_changed,
        root_roles_changed=root_changes,
        signing=_signing(role, draft, old, delegator),
        notes=draft_notes(role, message),
    )


def draft_notes(role: str, message: str) -> list[str]:
    """The sentences of the signing queue's message about the draft of ``role``
    (it changed and lost signatures, or it expired)."""
    prefix = f"The {role} draft "
    parts = _SENTENCE.split(message)
    return [p.rstrip(".") + "." for p in parts if p.startswith(prefix)]


def _target_file(path: str, info: dict[str, Any]) -> TargetFile:
    hashes = info.get("hashes") or {}
    length = info.get("length")
    return TargetFile(path, length if isinstance(length, int) else None, hashes.get("sha256"))


def _target_changes(
    old: dict[str, Any], new: dict[str, Any]
) -> tuple[list[TargetFile], list[TargetFile], list[TargetChange]]:
    added = [_target_file(p, new[p]) for p in sorted(set(new) - set(old))]
    removed = [_target_file(p, old[p]) for p in sorted(set(old) - set(new))]
    changed = [
        TargetChange(p, _target_file(p, old[p]), _target_file(p, new[p]))
        for p in sorted(set(old) & set(new))
        if old[p] != new[p]
    ]
    return added, removed, changed


def _patterns(role: dict[str, Any]) -> list[str]:
    paths = role.get("paths")
    if paths is not None:
        return [str(p) for p in paths]
    return [f"hash prefix {p}" for p in role.get("path_hash_prefixes") or []]


def _role_change(name: str, old: dict[str, Any], new: dict[str, Any]) -> RoleChange | None:
    old_keys, new_keys = set(old.get("keyids") or []), set(new.get("keyids") or [])
    old_paths, new_paths = set(_patterns(old)), set(_patterns(new))
    change = RoleChange(
        name,
        keys_added=sorted(new_keys - old_keys),
        keys_removed=sorted(old_keys - new_keys),
        threshold=(old.get("threshold"), new.get("threshold"))
        if old.get("threshold") != new.get("threshold")
        else None,
        paths_added=sorted(new_paths - old_paths),
        paths_removed=sorted(old_paths - new_paths),
        terminating=(old.get("terminating"), new.get("terminating"))
        if old.get("terminating") != new.get("terminating")
        else None,
    )
    return None if change == RoleChange(name) else change


def _delegation_changes(
    old: dict[str, Any], new: dict[str, Any]
) -> tuple[list[str], list[str], list[RoleChange]]:
    old_roles = {r["name"]: r for r in old.get("roles") or []}
    new_roles = {r["name"]: r for r in new.get("roles") or []}
    if "succinct_roles" in old or "succinct_roles" in new:
        for part, roles in ((old, old_roles), (new, new_roles)):
            if succinct := part.get("succinct_roles"):
                roles[f"{succinct.get('name_prefix')}-* (hash bins)"] = succinct
    changed = []
    for name in sorted(set(old_roles) & set(new_roles)):
        change = _role_change(name, old_roles[name], new_roles[name])
        old_material = {
            k: (old.get("keys") or {}).get(k) for k in old_roles[name].get("keyids", [])
        }
        new_material = {
            k: (new.get("keys") or {}).get(k) for k in new_roles[name].get("keyids", [])
        }
        if change is None and old_material != new_material:
            change = RoleChange(name, keys_added=["(key material changed)"])
        if change is not None:
            changed.append(change)
    return sorted(set(new_roles) - set(old_roles)), sorted(set(old_roles) - set(new_roles)), changed


def _root_role_changes(old: dict[str, Any], new: dict[str, Any]) -> list[RoleChange]:
    changes = (
        _role_change(name, old.get(name, {}), new.get(name, {}))
        for name in sorted(set(old) | set(new))
    )
    return [c for c in changes if c is not None]


def _side(label: str, rule: dict[str, Any] | None, signed_by: set[str]) -> list[Signing]:
    if not rule:
        return []
    keyids = sorted(rule.get("keyids") or [])
    return [Signing(label, int(rule.get("threshold", 1)), keyids, sorted(signed_by & set(keyids)))]


def _signing(
    role: str, draft: dict[str, Any], old: dict[str, Any], delegator: dict[str, Any] | None
) -> list[Signing]:
    signed_by = {s.get("keyid") for s in draft.get("signatures") or [] if s.get("sig")}
    keyed = {k for k in signed_by if isinstance(k, str)}
    if role == "root":
        trusted_rule = (old.get("roles") or {}).get("root")
        new_rule = (draft.get("signed", {}).get("roles") or {}).get("root")
        return _side("trusted root", trusted_rule, keyed) + _side("new root", new_rule, keyed)
    if delegator is None:
        return []
    if role == "targets":
        return _side("", (delegator.get("roles") or {}).get("targets"), keyed)
    delegations = delegator.get("delegations") or {}
    for rule in delegations.get("roles") or []:
        if rule.get("name") == role:
            return _side("", rule, keyed)
    succinct = delegations.get("succinct_roles")
    if succinct and role.startswith(f"{succinct.get('name_prefix')}-"):
        return _side("", succinct, keyed)
    return []

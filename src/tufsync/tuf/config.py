"""Repository settings: expirations, key counts, thresholds, online-targets flag.

``RepoConfig.to_dict()`` is exactly the ``data`` of GET /tuf/v1/config; the
same dict is kept in the state store and copied to
``tuf_private/<admin>/<app>/settings.json`` for recovery.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

MAX_EXPIRATION_DAYS = 3650


@dataclass(frozen=True)
class RoleSettings:
    expiration: int
    threshold: int
    num_keys: int


BIN_PREFIX = "bins"


@dataclass(frozen=True)
class HashBins:
    """Succinct hash-bin delegation (TAP 15): ``number_of_bins`` roles ``bins-XX``."""

    number_of_bins: int
    expiration: int
    threshold: int
    num_keys: int

    @property
    def bit_length(self) -> int:
        return self.number_of_bins.bit_length() - 1

    def to_dict(self) -> dict[str, int]:
        return {
            "number_of_bins": self.number_of_bins,
            "expiration": self.expiration,
            "threshold": self.threshold,
            "num_keys": self.num_keys,
        }


@dataclass(frozen=True)
class RepoConfig:
    bootstrap: str
    roles: dict[str, RoleSettings]
    targets_online_key: bool
    delegated_roles: dict[str, RoleSettings] = field(default_factory=dict)
    hash_bins: HashBins | None = None

    def is_bin(self, role: str) -> bool:
        return self.hash_bins is not None and role.startswith(BIN_PREFIX + "-")

    def is_delegated(self, role: str) -> bool:
        """True for a delegated role of this repository (a named role or a hash bin)."""
        return role in self.delegated_roles or self.is_bin(role)

    @property
    def role_expiration(self) -> int:
        """Default lifetime in days of delegated roles (the targets lifetime)."""
        return self.roles["targets"].expiration

    def expiration_days(self, role: str) -> int:
        if role in self.roles:
            return self.roles[role].expiration
        if role in self.delegated_roles:
            return self.delegated_roles[role].expiration
        if self.hash_bins is not None and self.is_bin(role):
            return self.hash_bins.expiration
        return self.role_expiration

    def with_expirations(self, days: dict[str, int]) -> RepoConfig:
        roles = dict(self.roles)
        delegated = dict(self.delegated_roles)
        bins = self.hash_bins
        for role, value in days.items():
            if role in roles:
                roles[role] = replace(roles[role], expiration=value)
            elif role == BIN_PREFIX and bins is not None:
                bins = replace(bins, expiration=value)
            else:
                delegated[role] = replace(delegated[role], expiration=value)
        return replace(self, roles=roles, delegated_roles=delegated, hash_bins=bins)

    def with_top_level_keys(self, thresholds: dict[str, tuple[int, int]]) -> RepoConfig:
        """Record new (threshold, number of keys) of top-level roles after a root rotation."""
        roles = dict(self.roles)
        for role, (threshold, num_keys) in thresholds.items():
            roles[role] = replace(roles[role], threshold=threshold, num_keys=num_keys)
        return replace(self, roles=roles)

    def with_delegated_roles(self, roles: dict[str, tuple[int, int]]) -> RepoConfig:
        """Named delegated roles now (threshold, number of keys); expirations are kept,
        new roles get the default delegated lifetime."""
        delegated = {
            name: RoleSettings(
                self.delegated_roles[name].expiration
                if name in self.delegated_roles
                else self.role_expiration,
                threshold,
                num_keys,
            )
            for name, (threshold, num_keys) in roles.items()
        }
        return replace(self, delegated_roles=delegated)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"bootstrap": self.bootstrap, "role_expiration": self.role_expiration}
        for role in ("root", "timestamp", "snapshot", "targets"):
            rs = self.roles[role]
            out[f"{role}_expiration"] = rs.expiration
            out[f"{role}_num_keys"] = rs.num_keys
            out[f"{role}_threshold"] = rs.threshold
        out["targets_online_key"] = 1 if self.targets_online_key else 0
        out["delegated_roles"] = {
            name: {"expiration": rs.expiration, "threshold": rs.threshold, "num_keys": rs.num_keys}
            for name, rs in self.delegated_roles.items()
        }
        if self.hash_bins is not None:
            out["hash_bins"] = self.hash_bins.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RepoConfig:
        roles = {
            role: RoleSettings(
                expiration=int(data[f"{role}_expiration"]),
                threshold=int(data[f"{role}_threshold"]),
                num_keys=int(data[f"{role}_num_keys"]),
            )
            for role in ("root", "timestamp", "snapshot", "targets")
        }
        delegated = {
            name: RoleSettings(int(v["expiration"]), int(v["threshold"]), int(v["num_keys"]))
            for name, v in data.get("delegated_roles", {}).items()
        }
        bins = data.get("hash_bins")
        return cls(
            bootstrap=str(data.get("bootstrap", "")),
            roles=roles,
            targets_online_key=bool(int(data.get("targets_online_key", 1))),
            delegated_roles=delegated,
            hash_bins=HashBins(**{k: int(v) for k, v in bins.items()}) if bins else None,
        )

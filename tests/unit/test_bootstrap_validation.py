"""Bootstrap validation scales with the payload: one probe per distinct online key,
the role bound checked before anything else, delegated names unique in any case."""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import pytest
from securesystemslib.signer import Key

from tests.support import ceremony
from tufsync.tuf.bootstrap import MAX_BINS, validate_bootstrap, validate_bootstrap_async
from tufsync.tuf.errors import TufInputError
from tufsync.tuf.keys import OnlineKeyStore
from tufsync.tuf.repository import Engine
from tufsync.tuf.validation import MAX_DELEGATED_ROLES

ADMIN, APP = "alice", "demo"


class CountingKeyStore(OnlineKeyStore):
    """Counts how often each keyid is loaded and probed."""

    def __init__(self, inner: OnlineKeyStore) -> None:
        super().__init__(inner.root)
        self.probed: Counter[str] = Counter()

    def problems(
        self, admin: str, app: str, keys: dict[str, Key], probe: bool = False
    ) -> dict[str, str]:
        self.probed.update(list(keys))
        return super().problems(admin, app, keys, probe)


class RefusingKeyStore(OnlineKeyStore):
    """Fails the test if any key is looked at."""

    def problems(
        self, admin: str, app: str, keys: dict[str, Key], probe: bool = False
    ) -> dict[str, str]:
        raise AssertionError("keys were checked before the role bound")


def with_roles(payload: dict[str, Any], keyid: str, names: list[str]) -> dict[str, Any]:
    payload = copy.deepcopy(payload)
    key = payload["metadata"]["root"]["signed"]["keys"][keyid]
    roles = [
        {"name": n, "keyids": [keyid], "threshold": 1, "paths": [f"{APP}-{ADMIN}/{n}/*"]}
        for n in names
    ]
    payload["settings"]["roles"]["delegations"] = {"keys": {keyid: key}, "roles": roles}
    return payload


async def test_each_distinct_online_key_is_probed_once(engine: Engine) -> None:
    cer = ceremony(engine.keys.root, ADMIN, APP)
    payload = with_roles(cer.payload, cer.online_keyid, [f"r{i}" for i in range(300)])
    keys = CountingKeyStore(engine.keys)
    plan = await validate_bootstrap_async(ADMIN, APP, payload, keys, engine.clock())
    assert len(plan.delegations.roles or {}) == 300
    # timestamp, snapshot, targets and 300 roles share one key: loaded and probed once.
    assert keys.probed == Counter({cer.online_keyid: 1})


async def test_the_role_bound_is_checked_before_any_key(engine: Engine) -> None:
    assert MAX_DELEGATED_ROLES == MAX_BINS == 16384
    cer = ceremony(engine.keys.root, ADMIN, APP)
    names = [f"r{i}" for i in range(MAX_DELEGATED_ROLES + 1)]
    payload = with_roles(cer.payload, cer.online_keyid, names)
    with pytest.raises(TufInputError, match="at most 16384 delegated roles"):
        validate_bootstrap(ADMIN, APP, payload, RefusingKeyStore(engine.keys.root), engine.clock())


@pytest.mark.parametrize(
    ("names", "fragment"),
    [
        (["a", "b", "a"], "'a' appears more than once"),
        (["stable", "STABLE"], "'stable' and 'STABLE' differ only in letter case"),
        (["Root"], "'Root' clashes with a top-level role"),
        (["timestamp"], "'timestamp' clashes with a top-level role"),
    ],
)
async def test_delegated_role_names(engine: Engine, names: list[str], fragment: str) -> None:
    cer = ceremony(engine.keys.root, ADMIN, APP)
    payload = with_roles(cer.payload, cer.online_keyid, names)
    with pytest.raises(TufInputError, match=fragment):
        validate_bootstrap(ADMIN, APP, payload, engine.keys, engine.clock())


async def test_the_role_bound_applies_to_an_offline_targets_v1(engine: Engine) -> None:
    cer = ceremony(engine.keys.root, ADMIN, APP)
    payload = copy.deepcopy(cer.payload)
    payload["settings"]["roles"]["targets"]["online_key"] = False
    roles = [{"name": f"r{i}"} for i in range(MAX_DELEGATED_ROLES + 1)]
    payload["metadata"]["targets"] = {
        "signed": {"_type": "targets", "delegations": {"roles": roles}}
    }
    with pytest.raises(TufInputError, match=r"metadata\.targets\.signed\.delegations lists 16385"):
        validate_bootstrap(ADMIN, APP, payload, RefusingKeyStore(engine.keys.root), engine.clock())

"""Signer-URI grants: bound to one tenant, matched at a boundary, unsafe settings refused."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tufsync.signer_uris import SignerUriPolicy, SignerUriSettingError, check_setting


def test_templated_prefix_binds_admin_and_app() -> None:
    policy = SignerUriPolicy({"*": ["file2:/srv/hsm/{admin}/{app}/"]})
    assert policy.allows("alice", "web", "file2:/srv/hsm/alice/web/k1")
    assert not policy.allows("bob", "web", "file2:/srv/hsm/alice/web/k1")
    assert not policy.allows("alice", "cli", "file2:/srv/hsm/alice/web/k1")
    assert not policy.allows("alice", "web", "file2:/srv/hsm/alice/web/../../bob/web/k1")


def test_prefix_matches_only_at_a_boundary() -> None:
    policy = SignerUriPolicy({"alice": ["file2:/srv/keys/alice"], "*": ["vault:/t/{admin}"]})
    assert policy.allows("alice", "web", "file2:/srv/keys/alice/k1")
    assert not policy.allows("alice", "web", "file2:/srv/keys/alice2/k1")
    assert not policy.allows("alice", "web", "file2:/srv/keys/alice_x/k1")
    assert policy.allows("bob", "web", "vault:/t/bob/k")
    assert not policy.allows("bob", "web", "vault:/t/bob2/k")
    assert not policy.allows("bob", "web", "vault:/t/bob.x/k")


def test_admin_grants_ignore_case_of_the_setting() -> None:
    policy = SignerUriPolicy({"Alice": ["file2:/k/alice/"]})
    assert policy.allows("alice", "web", "file2:/k/alice/x")


@pytest.mark.parametrize(
    ("setting", "reason"),
    [
        ({"*": ["file2:/srv/hsm-keys/"]}, "has no {admin}"),
        ({"alice": ["file2:/k/alice/"], "bob": ["file2:/k/"]}, "overlap"),
        ({"alice": ["file2:/k/al"], "bob": ["file2:/k/al/b/"]}, "overlap"),
        ({"alice": ["file2:/k/x/"], "bob": ["file2:/k/x/"]}, "overlap"),
        ({"alice": ["file2:/k/{app}/"], "bob": ["file2:/k/bob/"]}, "overlap"),
        ({"bob": ["file2:/k/alice/"], "*": ["file2:/k/{admin}/"]}, "overlap"),
        ({"bob": ["file2:/k/"], "*": ["file2:/k/{admin}/"]}, "overlap"),
        ({"bob": ["file2:/k/bo{app}/"], "*": ["file2:/k/{admin}/"]}, "overlap"),
        ({"*": ["file2:/k/{admin}/", "file2:/k/x/{admin}/"]}, "overlap"),
        ({"*": ["file2:/k/{admin}_{app}/"]}, "must be followed"),
        ({"*": ["file2:/k/{admin}{app}/"]}, "must be followed"),
        ({"*": ["file2:/k/{app}/{admin}/"]}, "before {app}"),
        ({"*": ["file2:/k/{user}/"]}, "only the placeholders"),
        ({"*": ["file2:/k/{admin}/../"]}, "'..'"),
        ({"*": [""]}, "empty"),
        ({"al-ice": ["file2:/k/"]}, "neither an admin name"),
        ({"alice": ["file2:/k/a/"], "ALICE": ["file2:/k/b/"]}, "twice"),
    ],
)
def test_settings_that_let_two_tenants_reach_one_key_are_refused(
    setting: dict[str, list[str]], reason: str
) -> None:
    with pytest.raises(SignerUriSettingError, match="TUFSYNC_SIGNER_URI_PREFIXES") as info:
        check_setting(setting)
    assert reason in str(info.value)


@pytest.mark.parametrize(
    "setting",
    [
        {"*": ["file2:/srv/hsm/{admin}/{app}/", "awskms:arn:aws:kms:r:1:alias/{admin}/"]},
        {"alice": ["file2:/k/alice"], "alice2": ["file2:/k/alice2/"]},
        {"alice": ["file2:/k/alice/"], "*": ["file2:/k/{admin}/"]},
        {"alice": ["file2:/k/alice"], "*": ["file2:/k/{admin}/{app}/"]},
        {"*": ["file2:/k/{admin}/", "file2:/k/{admin}.{app}/"]},
        {
            "alice": ["gcpkms:projects/p/keyRings/alice/"],
            "bob": ["gcpkms:projects/p/keyRings/bob/"],
        },
    ],
)
def test_disjoint_settings_are_accepted(setting: dict[str, list[str]]) -> None:
    SignerUriPolicy(setting)


ADMINS = ["alice", "alice2", "ali", "bob", "bob_x", "Carol"]
APPS = ["web", "web.x", "w-1", "x"]
PIECES = ["file2:/k/", "/", "alice", "ali", "bob", "x", ".", "-", "_", "2", "{admin}", "{app}"]
SUFFIXES = ["", "k", "/k", "2/k", "_x/k", ".x/k", "-1/k", "ce/k"]


@given(
    st.dictionaries(
        st.sampled_from([*ADMINS, "*"]),
        st.lists(
            st.lists(st.sampled_from(PIECES), min_size=1, max_size=5).map("".join), max_size=2
        ),
        max_size=3,
    )
)
@settings(max_examples=400, deadline=None)
def test_an_accepted_setting_never_lets_two_admins_reach_one_uri(
    setting: dict[str, list[str]],
) -> None:
    try:
        policy = SignerUriPolicy(setting)
    except SignerUriSettingError:
        return
    tenants = [(admin, app) for admin in ADMINS for app in APPS]
    candidates = {
        prefix + suffix
        for admin, app in tenants
        for prefix in policy.prefixes(admin, app)
        for suffix in SUFFIXES
    }
    for uri in candidates:
        owners = {admin for admin, app in tenants if policy.allows(admin, app, uri)}
        assert len(owners) <= 1, (setting, uri, owners)

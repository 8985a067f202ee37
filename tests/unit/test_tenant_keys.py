"""Every tenant key builder is injective and stays out of the scanned key spaces
(docs/design.md invariant 7).

Names are drawn from everything the naming rules allow, with a bias towards the
characters that made the old ``<PREFIX>_<admin>_<app>`` names collide (``_``,
``.``, ``-``) and towards case variants.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tufsync import tenant_keys
from tufsync.names import APP_NAME_RE, ROLE_NAME_RE, USERNAME_RE, InvalidName
from tufsync.tenant_keys import TenantRef


def _names(regex: object, alphabet: str, max_size: int) -> st.SearchStrategy[str]:
    dense = st.text(alphabet=alphabet, min_size=1, max_size=max_size)
    return st.one_of(st.from_regex(regex, fullmatch=True), dense).filter(  # type: ignore[arg-type]
        lambda s: bool(regex.fullmatch(s)) and ".." not in s  # type: ignore[attr-defined]
    )


usernames = _names(USERNAME_RE, "aA_bB1", 8)
app_names = _names(APP_NAME_RE, "aA_.-bB1", 8)
role_names = _names(ROLE_NAME_RE, "aA_.-rR1", 8)
refs = st.builds(TenantRef, usernames, app_names)

STATE_BUILDERS = {
    "bootstrap": tenant_keys.bootstrap,
    "settings": tenant_keys.settings,
    "recovery": tenant_keys.recovery,
    "repo_lock": tenant_keys.repo_lock,
    "signing_lock": tenant_keys.signing_lock,
    "online_keys_lock": tenant_keys.online_keys_lock,
    "target_batch": tenant_keys.target_batch,
    "refresh_queued": tenant_keys.refresh_queued,
    "schedule": tenant_keys.schedule,
    "finalizing": tenant_keys.finalizing,
}
OBJECT_BUILDERS = {
    "metadata_prefix": tenant_keys.metadata_prefix,
    "private_prefix": tenant_keys.private_prefix,
    "artifact_prefix": tenant_keys.artifact_prefix,
}
SYSTEM_KEYS = (tenant_keys.SCHEDULER_LOCK, tenant_keys.STATE_SCHEMA)


def state_keys_of(ref: TenantRef, roles: list[str]) -> dict[str, tuple[object, ...]]:
    out: dict[str, tuple[object, ...]] = {}
    for kind, build in STATE_BUILDERS.items():
        out[build(ref)] = (kind, ref)
    for role in roles:
        out[tenant_keys.draft(ref, role)] = ("draft", ref, role)
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(refs, min_size=2, max_size=12, unique=True), st.lists(role_names, max_size=6))
def test_state_keys_are_injective(tenants: list[TenantRef], roles: list[str]) -> None:
    roles = sorted(set(roles) | {"root", "repo", "task", "REPO", "Task"})
    seen: dict[str, tuple[object, ...]] = {}
    for ref in tenants:
        for key, owner in state_keys_of(ref, roles).items():
            assert seen.setdefault(key, owner) == owner, (
                f"{key} is shared by {owner} and {seen[key]}"
            )


@settings(max_examples=300, deadline=None)
@given(refs, st.lists(role_names, max_size=6), st.uuids())
def test_no_tenant_key_enters_a_scanned_or_system_space(
    ref: TenantRef, roles: list[str], task_id: object
) -> None:
    for key, owner in state_keys_of(ref, [*roles, "repo", "task", "schedule"]).items():
        assert key not in SYSTEM_KEYS
        assert not key.startswith((tenant_keys.SYSTEM_PREFIX, tenant_keys.LEASE_PREFIX))
        assert not key.startswith(tenant_keys.TASK_PREFIX)
        if owner[0] == "finalizing":
            assert tenant_keys.parse_finalizing(key) == ref
        else:
            assert not key.startswith(tenant_keys.FINALIZE_PREFIX), key
            with pytest.raises(ValueError):
                tenant_keys.parse_finalizing(key)
        if owner[0] == "schedule":
            assert tenant_keys.parse_schedule(key) == ref
        else:
            assert not key.startswith(tenant_keys.SCHEDULE_PREFIX), key
            with pytest.raises(ValueError):
                tenant_keys.parse_schedule(key)
    task_key = tenant_keys.task(str(task_id))
    assert tenant_keys.parse_task(task_key) == str(task_id)
    assert not tenant_keys.task_lease(str(task_id)).startswith(tenant_keys.SCANNED_PREFIXES)


@settings(max_examples=300, deadline=None)
@given(st.lists(refs, min_size=2, max_size=12, unique=True))
def test_object_prefixes_and_key_folders_are_injective_and_prefix_free(
    tenants: list[TenantRef],
) -> None:
    root = Path("/keys")
    for kind, build in OBJECT_BUILDERS.items():
        prefixes = {build(ref): ref for ref in tenants}
        assert len(prefixes) == len(tenants), kind
        for a in prefixes:
            for b in prefixes:
                assert a == b or not b.startswith(a), (kind, a, b)
    folders = {tenant_keys.key_folder(root, ref) for ref in tenants}
    assert len(folders) == len(tenants)
    for ref in tenants:
        assert tenant_keys.private_settings(ref).startswith(tenant_keys.private_prefix(ref))
        assert not tenant_keys.artifact_prefix(ref).startswith(
            ("tuf_metadata/", "tuf_private/", tenant_keys.STAGING_PREFIX)
        )


@given(st.text(max_size=20))
def test_escape_round_trips_and_never_contains_the_separator(text: str) -> None:
    escaped = tenant_keys.escape(text)
    assert tenant_keys.SEP not in escaped and "/" not in escaped
    assert tenant_keys.unescape(escaped) == text


def test_names_that_collided_under_the_old_key_layout_get_different_keys() -> None:
    a, b = TenantRef("john", "doe_x"), TenantRef("john_doe", "x")
    for build in STATE_BUILDERS.values():
        assert build(a) != build(b)
    assert tenant_keys.draft(a, "root") != tenant_keys.draft(b, "root")
    assert tenant_keys.draft(a, "repo") != tenant_keys.draft(a, "Repo")
    assert not tenant_keys.draft(a, "repo").startswith(tenant_keys.SCANNED_PREFIXES)
    assert not tenant_keys.draft(a, "task").startswith(tenant_keys.SCANNED_PREFIXES)


@pytest.mark.parametrize(
    ("admin", "app"),
    [
        ("jo", "x"),
        ("john/x", "y"),
        ("john", "../x"),
        ("john", "a/b"),
        ("john", ".x"),
        ("j:hn", "x"),
    ],
)
def test_refs_refuse_names_the_rules_do_not_allow(admin: str, app: str) -> None:
    with pytest.raises(InvalidName):
        TenantRef(admin, app)


@pytest.mark.parametrize(
    "key", ["schedule:a", "schedule:abc:x:y", "schedule:abc:%zz", "schedule:ab:x", "REPO_abc/x"]
)
def test_parse_schedule_refuses_what_no_builder_makes(key: str) -> None:
    with pytest.raises(ValueError):
        tenant_keys.parse_schedule(key)

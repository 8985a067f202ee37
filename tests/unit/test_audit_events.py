"""Which task outcomes become audit events, and the audit trail's closed set of fields."""

from __future__ import annotations

import pytest

from tufsync.audit_events import task_event
from tufsync.db.audit import AuditDetailError, checked_details
from tufsync.tasks.records import TaskRecord


def record(name: str, **params: object) -> TaskRecord:
    return TaskRecord("t1", name, "alice", "app", dict(params))


def test_task_events() -> None:
    versions = {"versions": {"targets": 2}}
    staged = record("metadata_delegation", mode="awaiting", drafts=[{"role": "targets"}])
    assert task_event(staged, {}) is None
    published = record(
        "metadata_delegation", mode="publish", drafts=[{"role": "targets"}, {"role": "bins"}]
    )
    assert task_event(published, versions) == (
        "delegated_published",
        {"roles": ["targets", "bins"], "versions": {"targets": 2}},
    )
    assert task_event(record("metadata_update", mode="awaiting", version=2), {}) is None
    refresh = record("force_online_metadata_update", roles=["timestamp"], automatic=True)
    assert task_event(refresh, versions) is None
    forced = record("force_online_metadata_update", roles=["timestamp"])
    assert task_event(forced, versions) == (
        "forced_update",
        {"roles": ["timestamp"], "versions": {"targets": 2}},
    )
    publish = record(
        "publish_artifacts",
        version_id="v1",
        artifacts=[{"path": "a-alice/x", "length": 1, "hashes": {"sha256": "00"}}],
    )
    assert task_event(publish, versions) == (
        "artifacts_published",
        {"paths": ["a-alice/x"], "version_id": "v1", "versions": {"targets": 2}},
    )
    assert task_event(record("unknown_task"), {}) is None


def test_details_are_a_closed_set_of_public_fields() -> None:
    assert checked_details("bootstrap", {"root_keyids": ["ab"]}) == {"root_keyids": ["ab"]}
    for event, details in (
        ("bootstrap", {"private_key": "-----BEGIN"}),
        ("bootstrap", {"token": "x"}),
        ("made_up", {}),
        ("bootstrap", {"versions": {"root": object()}}),
    ):
        with pytest.raises(AuditDetailError):
            checked_details(event, details)

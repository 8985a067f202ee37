"""A task record's stored form holds every field and reads back unchanged."""

from __future__ import annotations

import dataclasses
import json

from tufsync.state.locks import LockTimeout
from tufsync.tasks.records import SUCCESS, TaskRecord, timeout_error


def test_stored_form_round_trips_every_field() -> None:
    record = TaskRecord(
        "t-1",
        "add_artifacts",
        "alice",
        "app",
        {"artifacts": [{"path": "app-alice/a", "length": 1, "hashes": {"sha256": "00"}}]},
        state=SUCCESS,
        result={"task": "add_artifacts", "status": True, "details": {"versions": {"x": 2}}},
    )
    raw = record.to_json()
    assert json.loads(raw) == dataclasses.asdict(record)
    assert TaskRecord.from_json(raw) == record


def test_timeout_sentences_say_what_ran_out() -> None:
    assert timeout_error(TimeoutError(), 600) == (
        "task timed out after 600 seconds; nothing was changed"
    )
    waited = LockTimeout("app:alice:app:lock", 120)
    assert timeout_error(waited, 600) == (
        "task timed out waiting for the repository lock: other work held it for all of "
        "120 seconds; nothing was changed"
    )
    signing = LockTimeout("app:alice:signing-lock:signing-lock", 30)
    assert "the lock on the app's signing drafts" in timeout_error(signing, 600)
    assert "the repository lock" in timeout_error(LockTimeout("app:alice:signing-lock:lock", 5), 1)

"""A task record's stored form holds every field and reads back unchanged."""

from __future__ import annotations

import dataclasses
import json

from tufsync.tasks.records import SUCCESS, TaskRecord


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

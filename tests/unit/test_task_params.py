"""Task kinds, their stored parameters, the handler table and the accept helper."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tufsync.operations.accept import TaskParams, accepting
from tufsync.operations.artifacts import PublishParams, RemoveParams
from tufsync.operations.bootstrap import BootstrapParams
from tufsync.operations.delegated_rotation import DelegatedRotationParams
from tufsync.operations.online import ForceUpdateParams
from tufsync.operations.recovery import RecoveryParams
from tufsync.operations.renewal import RenewOfflineParams
from tufsync.operations.root_rotation import RootRotationParams
from tufsync.operations.settings import SettingsParams
from tufsync.operations.signing import RoleParams
from tufsync.operations.table import HANDLERS
from tufsync.services import Services
from tufsync.state.sqlite import SqliteStateStore
from tufsync.tasks.contract import Outcome
from tufsync.tasks.kinds import TaskName
from tufsync.tasks.records import SUCCESS, TASK_NAMES, TaskRecord, TaskRecords
from tufsync.tasks.runner import run_task

ROOT = {"signed": {"_type": "root", "version": 2, "expires": None}, "signatures": []}
SPEC = {"path": "app-alice/app-1.0.bin", "length": 3, "hashes": {"sha256": "ab", "sha512": None}}
DRAFT = {"role": "bins", "metadata": {"signed": {"version": 2}}, "trusted_version": 1}

# The parameters exactly as the routes, the scheduler and registry deletions wrote them
# before the operations package (records already stored must keep loading).
STORED: list[tuple[str, type[TaskParams], dict[str, Any]]] = [
    ("bootstrap", BootstrapParams, {"payload": {"appName": "app", "x": None}, "timeout": 300.0}),
    ("bootstrap_recovery", RecoveryParams, {"timeout": 300}),
    (
        "add_artifacts",
        PublishParams,
        {"version_id": "v1", "version_ids": ["v1", "v2"], "artifacts": [SPEC]},
    ),
    ("publish_artifacts", PublishParams, {"version_id": "v1", "artifacts": [SPEC]}),
    ("remove_artifacts", RemoveParams, {"paths": [SPEC["path"]], "version_id": "v1"}),
    (
        "remove_artifacts",
        RemoveParams,
        {"paths": [SPEC["path"]], "version_id": "", "delete_files": True},
    ),
    ("update_settings", SettingsParams, {"expiration": {"targets": 30, "bins": 7}}),
    ("metadata_update", RootRotationParams, {"mode": "publish", "root": ROOT, "version": 2}),
    ("metadata_update", RootRotationParams, {"mode": "awaiting", "version": 2}),
    (
        "metadata_delegation",
        DelegatedRotationParams,
        {"mode": "awaiting", "drafts": [{"role": "a"}]},
    ),
    ("metadata_delegation", DelegatedRotationParams, {"mode": "publish", "drafts": [DRAFT]}),
    ("sign_metadata", RoleParams, {"role": "root"}),
    ("delete_sign_metadata", RoleParams, {"role": "targets"}),
    ("force_online_metadata_update", ForceUpdateParams, {"roles": ["snapshot", "timestamp"]}),
    ("force_online_metadata_update", ForceUpdateParams, {"roles": ["bins"], "automatic": True}),
    ("renew_offline_metadata", RenewOfflineParams, {"role": "default"}),
]


@pytest.mark.parametrize(("name", "model", "params"), STORED)
def test_stored_params_load_and_are_written_back_unchanged(
    name: str, model: type[TaskParams], params: dict[str, Any]
) -> None:
    assert TaskName(name) in HANDLERS
    assert model.model_validate(params).stored() == params


def test_every_task_kind_has_a_handler_and_a_record_name() -> None:
    assert set(HANDLERS) == {str(n) for n in TaskName} == set(TASK_NAMES)
    assert Services.__dataclass_fields__["handlers"].default_factory() is HANDLERS  # type: ignore[misc]


@pytest.fixture
async def ctx(tmp_path: Path) -> AsyncIterator[Any]:
    state = await SqliteStateStore.open(str(tmp_path / "state.db"))
    queued: list[str] = []

    async def submit(task_id: str) -> None:
        queued.append(task_id)

    yield SimpleNamespace(
        state=state,
        records=TaskRecords(state),
        queue=SimpleNamespace(submit=submit, queued=queued),
        settings=SimpleNamespace(task_redelivery_seconds=5.0),
        handlers={},
    )
    await state.close()


async def test_a_refused_task_undoes_its_reservations_newest_first(ctx: Any) -> None:
    undone: list[str] = []

    async def refuse(task_id: str) -> None:
        raise RuntimeError("queue unreachable")

    ctx.queue.submit = refuse
    actor = SimpleNamespace(id=1, username="alice")
    with pytest.raises(RuntimeError):
        async with accepting(ctx, actor, "app") as acceptance:

            async def undo(step: str) -> None:
                undone.append(step)

            acceptance.on_failure(lambda: undo("marker"))
            acceptance.on_failure(lambda: undo("drafts"))
            await acceptance.submit(TaskName.CANCEL_SIGNING, RoleParams(role="targets"))
    assert undone == ["drafts", "marker"]
    assert await ctx.records.get(acceptance.task_id) is None  # no PENDING record left


async def test_an_accepted_task_keeps_its_reservations(ctx: Any) -> None:
    undone: list[str] = []
    actor = SimpleNamespace(id=1, username="alice")

    async def undo() -> None:
        undone.append("marker")

    async with accepting(ctx, actor, "app") as acceptance:
        acceptance.on_failure(undo)
        record = await acceptance.submit(TaskName.CANCEL_SIGNING, RoleParams(role="targets"))
    assert undone == []
    assert ctx.queue.queued == [record.task_id]
    stored = await ctx.records.get(record.task_id)
    assert stored is not None and stored.params == {"role": "targets"}


class Recording:
    def __init__(self) -> None:
        self.ran: list[str] = []

    async def run(self, ctx: Any, record: TaskRecord) -> Outcome:
        self.ran.append(record.task_id)
        return Outcome("done", {})

    async def on_failure(self, ctx: Any, record: TaskRecord) -> None:
        return None


async def test_the_runner_uses_the_handler_table_it_is_given(ctx: Any) -> None:
    handler = Recording()
    ctx.handlers = {TaskName.REMOVE: handler}
    record = await ctx.records.create(TaskName.REMOVE, "alice", "app", {"paths": []})
    await run_task(ctx, record.task_id)
    assert handler.ran == [record.task_id]
    finished = await ctx.records.get(record.task_id)
    assert finished is not None and finished.state == SUCCESS

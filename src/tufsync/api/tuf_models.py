"""The answers of the TUF routes, for ``/openapi.json``, and the one builder of the
"task accepted" answer. Field names and casing are faynoSync's.

The request bodies are the operations' own models (:mod:`tufsync.operations`),
re-exported here for the routes.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from tufsync.operations.artifacts import DeleteArtifactsRequest, PublishRequest
from tufsync.operations.bootstrap import BootstrapRequest
from tufsync.operations.delegated_rotation import DelegatedRotationRequest
from tufsync.operations.online import OnlineUpdateRequest
from tufsync.operations.recovery import RecoveryRequest
from tufsync.operations.request_models import Loose
from tufsync.operations.root_rotation import RootRotationRequest
from tufsync.operations.settings import ConfigUpdateRequest
from tufsync.operations.signing import RoleRequest, SignRequest
from tufsync.tasks.records import TaskRecord, now_iso

TUF_METADATA = dict[str, Any]
__all__ = [
    "BootstrapRequest",
    "ConfigUpdateRequest",
    "DelegatedRotationRequest",
    "DeleteArtifactsRequest",
    "OnlineUpdateRequest",
    "PublishRequest",
    "RecoveryRequest",
    "RoleRequest",
    "RootRotationRequest",
    "SignRequest",
]


# -- shared answers -----------------------------------------------------------
class ErrorBody(BaseModel):
    error: str = Field(description="What is wrong, as a sentence a user can act on.")
    message: str | None = Field(
        default=None,
        description="What faynoSync's dashboard shows. Every 4xx of a /tuf/v1 route has one "
        "(the error sentence when there is no shorter text), except the few answers kept "
        "as faynoSync's exact bodies (docs/compatibility.md).",
    )
    data: dict[str, Any] | None = None


class TaskAccepted(BaseModel):
    task_id: str = Field(description="UUID4 of the background task; poll GET /tuf/v1/task.")
    last_update: str = Field(description="ISO 8601 time with offset.")


class TaskAcceptedAnswer(BaseModel):
    data: TaskAccepted
    message: str


# -- bootstrap ----------------------------------------------------------------
class RedisLocks(BaseModel):
    bootstrap_lock: str = Field(description="The bootstrap marker, or ''.")
    pre_locks: list[str] = Field(description="This app's pending bootstrap locks only.")


class BootstrapStatus(BaseModel):
    bootstrap: bool
    id: str = Field(description="The marker: 'pre-<task id>' while running, the task id when done.")
    state: None = Field(default=None, description="Always null, as faynoSync answers.")
    redis_locks: RedisLocks


class BootstrapStatusAnswer(BaseModel):
    data: BootstrapStatus
    message: str


# -- tasks --------------------------------------------------------------------
class TaskResult(Loose):
    task: str
    status: bool
    message: str | None = None
    error: str | None = None
    last_update: str | None = None
    details: dict[str, Any] | None = None


class TaskState(BaseModel):
    task_id: str
    state: Literal["PENDING", "STARTED", "SUCCESS", "FAILURE"]
    result: TaskResult


class TaskAnswer(BaseModel):
    data: TaskState
    message: str


# -- artifacts ----------------------------------------------------------------
class PublishStarted(BaseModel):
    app_id: str
    artifacts: list[str]
    last_update: str
    task_id: str
    version: str


class PublishStartedAnswer(BaseModel):
    data: PublishStarted
    message: str


class PublishNothing(BaseModel):
    app_id: str
    artifacts: list[str]
    version: str


class PublishNothingAnswer(BaseModel):
    data: PublishNothing
    message: str


# -- config -------------------------------------------------------------------
class DelegatedRoleConfig(Loose):
    expiration: int
    threshold: int
    num_keys: int


class RepoSettings(Loose):
    bootstrap: str
    role_expiration: int
    root_expiration: int
    root_num_keys: int
    root_threshold: int
    timestamp_expiration: int
    timestamp_num_keys: int
    timestamp_threshold: int
    snapshot_expiration: int
    snapshot_num_keys: int
    snapshot_threshold: int
    targets_expiration: int
    targets_num_keys: int
    targets_threshold: int
    targets_online_key: int = Field(description="1 when the server holds the targets key.")
    delegated_roles: dict[str, DelegatedRoleConfig]


class ConfigAnswer(BaseModel):
    data: RepoSettings
    message: str


# -- metadata -----------------------------------------------------------------
class PendingSigning(BaseModel):
    metadata: dict[str, TUF_METADATA] = Field(
        description="'<role>': draft and 'trusted_<role>': current, for each pending role."
    )


class PendingSigningAnswer(BaseModel):
    data: PendingSigning | None
    message: str


class TrustedRoot(BaseModel):
    trusted_root: TUF_METADATA


class TrustedRootAnswer(BaseModel):
    data: TrustedRoot
    message: str | None = None


class TrustedTargets(BaseModel):
    trusted_targets: TUF_METADATA


class TrustedTargetsAnswer(BaseModel):
    data: TrustedTargets
    message: str | None = None


class TrustedDelegated(BaseModel):
    trusted_delegated: TUF_METADATA


class TrustedDelegatedAnswer(BaseModel):
    data: TrustedDelegated
    message: str | None = None


def answers(ok: int, model: type[BaseModel], *errors: int, **more: type[BaseModel]) -> Any:
    """``responses=`` of a route: its success body and the error envelope per status."""
    out: dict[int | str, dict[str, Any]] = {ok: {"model": model}}
    for name, extra in more.items():
        out[int(name.removeprefix("s"))] = {"model": extra}
    for code in (*errors, 401):
        out.setdefault(code, {"model": ErrorBody})
    return out


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` of a route whose JSON body is ``model``, generated from it.

    The route reads the body itself (any Content-Type, the safe JSON parser, the
    contract's error sentences, checks after the repository's own) and hands it to
    the operation that owns ``model``; FastAPI only documents it.
    """
    schema = model.model_json_schema()
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def route_doc(
    model: type[BaseModel],
    status: int = 200,
    *errors: int,
    body: type[BaseModel] | None = None,
    **more: type[BaseModel],
) -> dict[str, Any]:
    """The decorator arguments of a TUF route: status, response model (the route
    answers a ``JSONResponse`` built to that shape), error answers, request body."""
    out: dict[str, Any] = {
        "status_code": status,
        "response_model": model,
        "responses": answers(status, model, *errors, **more),
    }
    if body is not None:
        out["openapi_extra"] = request_body(body)
    return out


def task_route(body: type[BaseModel] | None, status: int, *errors: int) -> dict[str, Any]:
    """:func:`route_doc` of a route that answers :func:`task_accepted`."""
    return route_doc(TaskAcceptedAnswer, status, *errors, body=body)


def task_accepted(
    record: TaskRecord,
    message: str,
    status: int = 200,
    *,
    sort_keys: bool = False,
    **extra: Any,
) -> JSONResponse:
    """The answer to a request whose task was accepted: ``data`` holds the task id,
    the time, and ``extra``; ``sort_keys`` orders them by name (as the publish,
    deletion and recovery answers always did)."""
    data: dict[str, Any] = {"task_id": record.task_id, "last_update": now_iso(), **extra}
    if sort_keys:
        data = dict(sorted(data.items()))
    return JSONResponse({"data": data, "message": message}, status_code=status)

"""Request and response bodies of the 17 TUF routes, for validation and ``/docs``.

Field names and casing are faynoSync's (API.md §5). Routes read their bodies
themselves, so that malformed input keeps the contract's error sentences;
these models describe those bodies and answers in ``/openapi.json``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

TUF_METADATA = dict[str, Any]


class Loose(BaseModel):
    """A body whose unknown fields are kept (clients send extra fields)."""

    model_config = ConfigDict(extra="allow")


# -- shared answers -----------------------------------------------------------
class ErrorBody(BaseModel):
    error: str = Field(description="What is wrong, as a sentence a user can act on.")
    message: str | None = Field(default=None, description="Short summary, when given.")
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


class RoleExpiration(Loose):
    expiration: int = Field(description="Days, 1..3650.")


class TargetsRoleSettings(RoleExpiration):
    online_key: bool = Field(default=True, description="Whether the server holds the targets key.")


class DelegatedRoleSpec(Loose):
    name: str
    terminating: bool = False
    keyids: list[str]
    threshold: int
    paths: list[str] = Field(description="TUF path patterns (any well-formed pattern).")
    expiration: int | None = Field(default=None, description="Days, 1..3650.")


class DelegationsSpec(Loose):
    keys: dict[str, dict[str, Any]]
    roles: list[DelegatedRoleSpec]


class BootstrapRoles(Loose):
    root: RoleExpiration
    timestamp: RoleExpiration
    snapshot: RoleExpiration
    targets: TargetsRoleSettings
    delegations: DelegationsSpec | None = None


class BootstrapSettings(Loose):
    roles: BootstrapRoles


class BootstrapMetadata(Loose):
    root: TUF_METADATA = Field(description="Root v1: {'signed': ..., 'signatures': [...]}.")
    targets: TUF_METADATA | None = Field(
        default=None, description="Targets v1, signed offline (when targets is offline)."
    )


class BootstrapRequest(Loose):
    appName: str
    settings: BootstrapSettings
    metadata: BootstrapMetadata
    timeout: float | None = Field(default=None, description="Seconds, 1..3600 (default 300).")


class RecoveryRequest(Loose):
    appName: str
    timeout: float | None = Field(default=None, description="Seconds, 1..3600 (default 300).")


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
class PublishRequest(BaseModel):
    app_id: str = Field(description="The application id (a version id is accepted too).")
    version: str


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


class DeleteArtifactsRequest(BaseModel):
    id: str = Field(description="The version id.")
    app_name: str
    version: str
    artifacts_to_delete: list[str] = Field(description="Artifact indices, as strings.")


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


class ExpirationSettings(BaseModel):
    expiration: dict[str, int] = Field(
        description="Days per role: targets, snapshot, timestamp or a delegated role."
    )


class ConfigUpdateRequest(BaseModel):
    settings: ExpirationSettings


# -- metadata -----------------------------------------------------------------
class RootRotationMetadata(Loose):
    root: TUF_METADATA


class RootRotationRequest(BaseModel):
    metadata: RootRotationMetadata


class PendingSigning(BaseModel):
    metadata: dict[str, TUF_METADATA] = Field(
        description="'<role>': draft and 'trusted_<role>': current, for each pending role."
    )


class PendingSigningAnswer(BaseModel):
    data: PendingSigning | None
    message: str


class SignatureBody(BaseModel):
    keyid: str
    sig: str


class SignRequest(BaseModel):
    role: str
    signature: SignatureBody


class RoleRequest(BaseModel):
    role: str


class DelegatedRotationRequest(BaseModel):
    role: str
    delegator: str = "targets"
    metadata: dict[str, TUF_METADATA] = Field(
        description="'targets' and/or the role: new versions of their metadata."
    )


class OnlineUpdateRequest(BaseModel):
    roles: list[str] | None = Field(
        default=None, description="Default: snapshot, timestamp (+ targets when online)."
    )


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

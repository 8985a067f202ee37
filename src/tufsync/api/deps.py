"""Request dependencies: the services, the current admin, and body/query parsing."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Depends, Query, Request
from pydantic import BaseModel, ValidationError

from tufsync.api.errors import ApiError, bad_request, describe_validation_errors
from tufsync.auth.cache import TTLCache
from tufsync.auth.tokens import InvalidToken, read_token
from tufsync.db import audit, queries
from tufsync.names import InvalidName, check_app_name
from tufsync.services import Services
from tufsync.tasks.submit import submit_task
from tufsync.tuf.repository import Repository

M = TypeVar("M", bound=BaseModel)
MAX_JSON_BODY = 16 * 1024 * 1024


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


@dataclass(frozen=True)
class Admin:
    id: int
    username: str


# Accounts are never deleted or renamed, so a short cache of existing admins is safe.
_known_admins: TTLCache[Admin] = TTLCache(ttl=30.0)


async def current_admin(request: Request, services: Services = Depends(get_services)) -> Admin:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "Unauthorized")
    assert services.settings.jwt_secret is not None
    try:
        username = read_token(services.settings.jwt_secret, token.strip())
    except InvalidToken:
        raise ApiError(401, "Unauthorized") from None
    cached = _known_admins.get(username)
    if cached is not None:
        return cached
    async with services.sessions() as session:
        user = await queries.get_user(session, username)
    if user is None:
        raise ApiError(401, "Unauthorized")
    admin = Admin(user.id, user.username)
    _known_admins.put(username, admin)
    return admin


async def read_json_object(request: Request) -> dict[str, Any]:
    """The body parsed as a JSON object, whatever its Content-Type."""
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_JSON_BODY:
        raise ApiError(413, f"Request body is larger than {MAX_JSON_BODY} bytes")
    raw = await request.body()
    if len(raw) > MAX_JSON_BODY:
        raise ApiError(413, f"Request body is larger than {MAX_JSON_BODY} bytes")
    if not raw.strip():
        raise bad_request("Invalid request: the body is empty; send a JSON object.")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise bad_request("Invalid request: the body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise bad_request("Invalid request: the body must be a JSON object.")
    return data


def validate_model(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise bad_request(describe_validation_errors(exc.errors())) from None


def app_name_param(value: str | None, field: str = "appName") -> str:
    """Check a required ``appName`` query parameter (or body field)."""
    if value is None or value == "":
        raise bad_request(f"{field} is required")
    try:
        return check_app_name(value, field)
    except InvalidName as exc:
        raise bad_request(str(exc)) from None


@dataclass(frozen=True)
class Tenant:
    """The caller's repository named by ``appName``, and what routes need around it."""

    admin: Admin
    services: Services
    repo: Repository

    @property
    def app(self) -> str:
        return self.repo.app

    async def audit(self, event: str, details: dict[str, Any], task_id: str | None = None) -> None:
        """Record a change this request made to the repository's trust."""
        await audit.record(
            self.services.sessions,
            self.admin.id,
            self.app,
            event,
            actor=self.admin.username,
            task_id=task_id,
            details=details,
        )

    async def submit_audited(
        self, name: str, params: dict[str, Any], event: str, details: dict[str, Any]
    ) -> Any:
        """Accept a task whose acceptance is itself a trust change: the audit event is
        written first (so it precedes whatever the task records) and withdrawn if the
        task is not accepted."""
        task_id = str(uuid.uuid4())
        await self.audit(event, details, task_id)
        try:
            return await self.submit(name, params, task_id=task_id)
        except BaseException:
            await audit.withdraw(self.services.sessions, self.admin.id, event, task_id)
            raise

    async def submit(self, name: str, params: dict[str, Any], task_id: str | None = None) -> Any:
        """Accept a task of this repository (its PENDING record, then the queue)."""
        return await submit_task(
            self.services, name, self.admin.username, self.app, params, task_id=task_id
        )


async def tenant_from_query(
    appName: str | None = Query(default=None, description="The app's repository"),
    admin: Admin = Depends(current_admin),
    services: Services = Depends(get_services),
) -> Tenant:
    """Dependency of routes that take ``?appName=``: checks the name, scopes it to the caller."""
    return Tenant(admin, services, services.tuf.repo(admin.username, app_name_param(appName)))


def tenant_from_body(body: dict[str, Any], admin: Admin, services: Services) -> Tenant:
    """The same for routes that take ``appName`` in their JSON body."""
    raw = body.get("appName")
    if not isinstance(raw, str | type(None)):
        raise bad_request("appName must be a string")
    return Tenant(admin, services, services.tuf.repo(admin.username, app_name_param(raw)))


def json_body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` describing a JSON body that the route parses itself."""
    schema = model.model_json_schema()
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}

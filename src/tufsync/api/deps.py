"""Request dependencies: the services, the current admin, and body/query parsing."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from tufsync.api.bodylimit import MAX_JSON_BODY, BodyTooLarge
from tufsync.api.errors import ApiError, bad_request
from tufsync.api.jsonsafe import JsonProblem, parse_json_async, small_int
from tufsync.api.tuf_models import request_body, task_accepted
from tufsync.auth import api_tokens
from tufsync.auth.cache import AuthCache, CachedAccount, CachedApiToken
from tufsync.auth.scope import set_scope
from tufsync.auth.tokens import InvalidToken, LoginClaims
from tufsync.db import queries
from tufsync.db.models import utcnow
from tufsync.names import InvalidName, check_app_name
from tufsync.operations.accept import Actor
from tufsync.operations.refusal import validate_model as validate_model
from tufsync.services import Services
from tufsync.tasks.contract import TaskContext
from tufsync.tasks.records import TaskRecord
from tufsync.tuf.repository import Repository

LAST_USED_STEP = timedelta(minutes=1)


async def get_services(request: Request) -> Services:
    """The running services (``async``: FastAPI would run a plain function in a thread)."""
    services: Services = request.app.state.services
    return services


def auth_cache(request: Request) -> AuthCache:
    """The process's sign-in cache (an inert one for apps built without the lifespan)."""
    cache: AuthCache | None = getattr(request.app.state, "auth", None)
    if cache is None:
        cache = request.app.state.auth = AuthCache()
    return cache


@dataclass(frozen=True)
class Admin:
    id: int
    username: str
    # The app names an API token covers; None when the caller used the admin's login.
    token_apps: frozenset[str] | None = None

    @property
    def is_api_token(self) -> bool:
        return self.token_apps is not None


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "Unauthorized")
    return token.strip()


def _route_key(request: Request) -> tuple[str, str]:
    route = request.scope.get("route")
    path = getattr(route, "path", None) or request.url.path
    return request.method.upper(), str(path)


def _check_api_token(request: Request, expires_at: datetime | None, now: datetime) -> None:
    """Expiry (401) and the routes an API token may call (403), on every request."""
    if expires_at is not None and queries.as_utc(expires_at) <= now:
        raise ApiError(401, "token expired")
    if _route_key(request) not in api_tokens.TOKEN_ROUTES:
        raise ApiError(403, api_tokens.LOGIN_REQUIRED)


async def _admin_from_api_token(request: Request, services: Services, token: str) -> Admin:
    """The admin behind an ``fns_`` token, scoped to its apps (403 off the token routes)."""
    cache = auth_cache(request)
    digest = api_tokens.hash_token(token)
    epoch = cache.current_epoch()  # read before the database, see tufsync.auth.cache
    now = utcnow()
    hit = cache.api_token(digest, epoch)
    if hit is not None and (
        hit.last_used_at is not None and queries.as_utc(hit.last_used_at) >= now - LAST_USED_STEP
    ):
        _check_api_token(request, hit.expires_at, now)
        return Admin(hit.user_id, hit.username, hit.app_names)
    async with services.sessions.begin() as session:
        found = await queries.get_api_token(session, digest)
        if found is None:
            raise ApiError(401, "invalid or expired token")
        row, user = found
        _check_api_token(request, row.expires_at, now)
        names = await queries.app_names_by_id(session, user.id, list(row.allowed_apps or []))
        # At most one write a minute per token, so busy pipelines do not queue on it.
        if row.last_used_at is None or queries.as_utc(row.last_used_at) < now - LAST_USED_STEP:
            row.last_used_at = now
        last_used = row.last_used_at
    admin = Admin(user.id, user.username, frozenset(names))
    if epoch is not None:
        cache.keep_api_token(
            digest,
            CachedApiToken(
                user.id, user.username, frozenset(names), row.expires_at, last_used, epoch
            ),
        )
    return admin


def _same_account(username: str, generation: str, claims: LoginClaims) -> bool:
    return username == claims.username and hmac.compare_digest(
        generation.encode(), claims.generation.encode()
    )


async def _admin_from_login(request: Request, services: Services, token: str) -> Admin:
    assert services.settings.jwt_secret is not None
    cache = auth_cache(request)
    try:
        claims = cache.jwts.claims(services.settings.jwt_secret, token)
    except InvalidToken:
        raise ApiError(401, "Unauthorized") from None
    # The token must match the account as it is now: a deleted account's tokens stop
    # at once, and a re-created one has another id and token generation. The cached
    # answer is used only while no account change has committed since it was read.
    epoch = cache.current_epoch()
    hit = cache.account(claims.user_id, epoch)
    if hit is not None:
        if not _same_account(hit.username, hit.generation, claims):
            raise ApiError(401, "Unauthorized")
        return Admin(hit.user_id, hit.username)
    async with services.reads() as session:
        user = await queries.get_user_by_id(session, claims.user_id)
    if user is None:
        raise ApiError(401, "Unauthorized")
    if epoch is not None:
        cache.keep_account(CachedAccount(user.id, user.username, user.token_generation, epoch))
    if not _same_account(user.username, user.token_generation, claims):
        raise ApiError(401, "Unauthorized")
    return Admin(user.id, user.username)


async def current_admin(request: Request) -> Admin:
    """The caller: a login JWT, or an API token on the routes tokens may use."""
    token = _bearer(request)
    services: Services = request.app.state.services
    if api_tokens.is_api_token(token):
        admin = await _admin_from_api_token(request, services, token)
    else:
        admin = await _admin_from_login(request, services, token)
    set_scope(admin.token_apps)
    request.state.admin = admin.username  # for the request log line (never the token)
    return admin


@dataclass(frozen=True)
class Caller:
    """The signed-in admin and the running services, for a route."""

    admin: Admin
    services: Services


async def the_caller(
    admin: Admin = Depends(current_admin), services: Services = Depends(get_services)
) -> Caller:
    return Caller(admin, services)


async def read_json_object(request: Request) -> dict[str, Any]:
    """The body parsed as a JSON object, whatever its Content-Type.

    The body is read as a stream bounded by :class:`BodyLimitMiddleware` (413 past
    the limit); the checks here only repeat it for apps built without the middleware.
    """
    length = small_int(request.headers.get("content-length"))
    if length is not None and length > MAX_JSON_BODY:
        raise BodyTooLarge(MAX_JSON_BODY)
    raw = await request.body()
    if len(raw) > MAX_JSON_BODY:
        raise BodyTooLarge(MAX_JSON_BODY)
    if not raw.strip():
        raise bad_request("Invalid request: the body is empty; send a JSON object.")
    try:
        data = await parse_json_async(raw)
    except JsonProblem as exc:
        raise bad_request(f"Invalid request: the body {exc}.") from None
    if not isinstance(data, dict):
        raise bad_request("Invalid request: the body must be a JSON object.")
    return data


def app_name_param(value: str | None, field: str = "appName", *, in_body: bool = False) -> str:
    """Check a required ``appName`` query parameter (or body field)."""
    if value is None or value == "":
        # faynoSync's wording for the body field and for the query parameter.
        if in_body:
            raise bad_request(f"Missing required field: {field}")
        raise bad_request(f"{field} query parameter is required")
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
    return Tenant(
        admin, services, services.tuf.repo(admin.username, app_name_param(raw, in_body=True))
    )


Operation = Callable[[TaskContext, Actor, Repository, dict[str, Any]], Awaitable[TaskRecord]]


@dataclass(frozen=True)
class TenantBody:
    """A TUF request: the caller's repository and its JSON body, for an operation."""

    tenant: Tenant
    body: dict[str, Any]

    async def accept(self, operation: Operation) -> TaskRecord:
        """Have ``operation`` accept the request's task."""
        tenant = self.tenant
        return await operation(tenant.services, tenant.admin, tenant.repo, self.body)

    async def answer(self, operation: Operation, message: str, status: int = 200) -> JSONResponse:
        """Have ``operation`` accept the request's task; the "task accepted" answer."""
        return task_accepted(await self.accept(operation), message, status)


async def query_tenant_json(
    request: Request, tenant: Tenant = Depends(tenant_from_query)
) -> TenantBody:
    """``?appName=`` and a JSON object body."""
    return TenantBody(tenant, await read_json_object(request))


async def query_tenant_optional_json(
    request: Request, tenant: Tenant = Depends(tenant_from_query)
) -> TenantBody:
    """``?appName=`` and a JSON object body, or no body at all."""
    raw = await request.body()
    return TenantBody(tenant, await read_json_object(request) if raw.strip() else {})


async def body_tenant_json(
    request: Request,
    admin: Admin = Depends(current_admin),
    services: Services = Depends(get_services),
) -> TenantBody:
    """A JSON object body naming the repository in its ``appName``."""
    body = await read_json_object(request)
    return TenantBody(tenant_from_body(body, admin, services), body)


def json_body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` of a non-TUF route whose body is ``model`` (see
    :func:`tufsync.api.tuf_models.request_body`)."""
    return request_body(model)

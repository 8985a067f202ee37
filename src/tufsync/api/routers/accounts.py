"""Accounts: signup with the server's signup key, login, whoami."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError

from tufsync.api.deps import (
    Admin,
    current_admin,
    get_services,
    json_body_doc,
    read_json_object,
    validate_model,
)
from tufsync.api.errors import ApiError, bad_request
from tufsync.api.login_guard import check_attempts, check_password_length, client_address, pooled
from tufsync.auth.tokens import issue_token
from tufsync.db import queries
from tufsync.db.models import User, new_token_generation
from tufsync.names import USERNAME_RE
from tufsync.services import Services

router = APIRouter(tags=["accounts"])
# Usernames are unique regardless of case (docs/api.md §1); login takes the exact name.
NOCASE = " (usernames are compared regardless of case)"


class SignupBody(BaseModel):
    username: str
    password: str
    api_key: str


class LoginBody(BaseModel):
    username: str
    password: str


@router.post(
    "/signup",
    openapi_extra=json_body_doc(SignupBody),
)
async def signup(request: Request, services: Services = Depends(get_services)) -> dict[str, str]:
    body = validate_model(SignupBody, await read_json_object(request))
    if not USERNAME_RE.fullmatch(body.username):
        raise bad_request("username must be 3 to 32 characters of letters, digits and underscore")
    if len(body.password) < 8:
        raise bad_request("password must be at least 8 characters long")
    check_password_length(body.password)
    await check_attempts(services, request, "signup", body.username)
    assert services.settings.signup_key is not None
    if not hmac.compare_digest(
        body.api_key.encode("utf-8", "surrogatepass"), services.settings.signup_key.encode()
    ):
        await services.attempts.failed("signup", client_address(request), body.username)
        raise ApiError(401, "Unauthorized", "The api_key is not this server's signup key.")
    password_hash = await pooled(services.passwords.hash(body.password))
    try:
        async with services.sessions.begin() as session:
            if await queries.username_taken(session, body.username):
                raise ApiError(409, f"Username {body.username!r} is already taken{NOCASE}")
            session.add(
                User(
                    username=body.username,
                    password_hash=password_hash,
                    token_generation=new_token_generation(),
                )
            )
    except IntegrityError:
        raise ApiError(409, f"Username {body.username!r} is already taken{NOCASE}") from None
    return {"result": "Successfully created admin user."}


@router.post(
    "/login",
    openapi_extra=json_body_doc(LoginBody),
)
async def login(request: Request, services: Services = Depends(get_services)) -> dict[str, str]:
    body = validate_model(LoginBody, await read_json_object(request))
    check_password_length(body.password)
    await check_attempts(services, request, "login", body.username)
    async with services.sessions() as session:
        user = await queries.get_user(session, body.username)
    valid = await pooled(
        services.passwords.verify(user.password_hash if user else None, body.password)
    )
    if not valid or user is None:
        await services.attempts.failed("login", client_address(request), body.username)
        raise ApiError(401, "Invalid username or password")
    await services.attempts.succeeded("login", client_address(request), body.username)
    settings = services.settings
    assert settings.jwt_secret is not None
    token = issue_token(
        settings.jwt_secret,
        user.username,
        user.id,
        user.token_generation,
        settings.token_lifetime_hours,
    )
    return {"token": token}


@router.get("/whoami")
async def whoami(admin: Admin = Depends(current_admin)) -> dict[str, Any]:
    return {"id": str(admin.id), "username": admin.username, "is_admin": True}

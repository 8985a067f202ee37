"""Error envelopes: ``{"error": ..., "message"?: ...}`` for every failure.

Validation problems become 400 with a sentence naming the field; storage
outages and a lost database connection (the database restarting, or its
connections terminated) 503, a full disk or database too (tufsync.storage.diskspace);
an upload past the storage quota or the disk reserve 413/507 (tufsync.registry.quota);
anything unexpected a 500 without a stack trace: its body says only that an
internal error happened, and the ``X-Error-Id`` header names the log line that
holds the exception (see :func:`log_internal_error`).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, DisconnectionError
from starlette.exceptions import HTTPException as StarletteHTTPException

from tufsync.auth.scope import OutOfScope
from tufsync.names import InvalidName
from tufsync.observability.logs import log_internal_error
from tufsync.operations.refusal import (
    ApiError,
    bad_request,
    describe_validation_errors,
    not_found,
)
from tufsync.registry.marks import is_connection_loss
from tufsync.registry.quota import StorageRefused
from tufsync.registry.service import RegistryError
from tufsync.state.locks import LockTimeout
from tufsync.storage import StorageUnavailable
from tufsync.storage.diskspace import OUT_OF_SPACE_SENTENCE, is_out_of_space
from tufsync.tuf.errors import NotBootstrapped, RoleNotFound, TufInputError

log = logging.getLogger(__name__)
ERROR_ID_HEADER = "X-Error-Id"
TUF_ROUTES = "/tuf/v1/"
# Messages for the few refusals whose error is a word rather than a sentence.
GENERIC_MESSAGES = {
    "Unauthorized": "Sign in again: the request has no valid token.",
    "Not found": "No such TUF route: check the path and the method.",
    "Method not allowed": "This TUF route does not take that method.",
}
# The refusal helpers live with the operations that raise them; routes import them here.
__all__ = [
    "ApiError",
    "bad_request",
    "describe_validation_errors",
    "envelope",
    "install_error_handlers",
    "not_found",
]
OUT_OF_SPACE = {"error": "Storage is full; try again later.", "message": OUT_OF_SPACE_SENTENCE}


def envelope(path: str, status: int, body: dict[str, Any], *, bare: bool = False) -> dict[str, Any]:
    """``body`` as answered on ``path``: a 4xx of a TUF route always carries a ``message``,
    the text faynoSync's dashboard shows (it falls back to a generic text without one);
    an answer that has none repeats its error sentence there. ``bare`` keeps faynoSync's
    exact body where its clients compare it (docs/compatibility.md)."""
    if bare or body.get("message") or not 400 <= status < 500:
        return body
    if not (path + "/").startswith(TUF_ROUTES):
        return body
    error = str(body.get("error") or "Request refused")
    return {**body, "error": error, "message": GENERIC_MESSAGES.get(error, error)}


def _answer(
    request: Request,
    body: dict[str, Any],
    status: int,
    headers: dict[str, str] | None = None,
    *,
    bare: bool = False,
) -> JSONResponse:
    return JSONResponse(
        envelope(request.url.path, status, body, bare=bare), status_code=status, headers=headers
    )


# Refusals whose sentence is the exception's text, by the status they answer.
PLAIN_REFUSALS: dict[type[Exception], int] = {
    OutOfScope: 403,
    InvalidName: 400,
    RoleNotFound: 404,
    TufInputError: 400,
}


def _plain_refusal(status: int) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def handler(request: Request, exc: Exception) -> JSONResponse:
        return _answer(request, {"error": str(exc)}, status)

    return handler


def _outage(request: Request, exc: Exception) -> JSONResponse | None:
    """503 for storage that is full and for a database connection that was lost (the
    database restarting, its connections terminated); None for anything else."""
    if is_out_of_space(exc):
        log.error("storage is full: %s", exc)
        return JSONResponse(OUT_OF_SPACE, status_code=503)
    if isinstance(exc, DBAPIError | DisconnectionError) and is_connection_loss(exc):
        log.error("database unreachable in %s %s: %s", request.method, request.url.path, exc)
        return JSONResponse({"error": "Database unavailable; try again later"}, status_code=503)
    return None


def install_error_handlers(app: FastAPI) -> None:
    for kind, status in PLAIN_REFUSALS.items():
        app.add_exception_handler(kind, _plain_refusal(status))

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _answer(request, exc.body(), exc.status, exc.headers, bare=exc.bare)

    @app.exception_handler(RegistryError)
    async def _registry(request: Request, exc: RegistryError) -> JSONResponse:
        return _answer(request, {"error": str(exc)}, exc.status, bare=exc.bare)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _answer(request, {"error": describe_validation_errors(exc.errors())}, 400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        text = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, str(exc.detail))
        return _answer(request, {"error": text}, exc.status_code)

    @app.exception_handler(NotBootstrapped)
    async def _not_bootstrapped(_: Request, exc: NotBootstrapped) -> JSONResponse:
        # State and published files disagree (e.g. settings without metadata): the
        # repository is not usable, which the caller sees as a missing bootstrap.
        body = {
            "error": str(exc),
            "message": "Bootstrap the app with POST /tuf/v1/bootstrap first.",
        }
        return JSONResponse(body, status_code=404)

    @app.exception_handler(StorageRefused)
    async def _storage_refused(_: Request, exc: StorageRefused) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(StorageUnavailable)
    async def _storage(_: Request, exc: StorageUnavailable) -> JSONResponse:
        log.error("storage unavailable: %s", exc)
        if is_out_of_space(exc):
            return JSONResponse(OUT_OF_SPACE, status_code=503)
        return JSONResponse({"error": "Object store unavailable; try again later"}, status_code=503)

    @app.exception_handler(LockTimeout)
    async def _busy(_: Request, exc: LockTimeout) -> JSONResponse:
        log.warning("request gave up waiting: %s", exc)
        return JSONResponse(
            {"error": "The app is busy with another change; try again in a moment"},
            status_code=503,
        )

    async def _storage_outage(request: Request, exc: Exception) -> JSONResponse:
        # Handled here rather than by the catch-all below, which re-raises to the server.
        outage = _outage(request, exc)
        if outage is None:
            raise exc
        return outage

    for kind in (OSError, DBAPIError, DisconnectionError, sqlite3.Error):
        app.add_exception_handler(kind, _storage_outage)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        outage = _outage(request, exc)
        if outage is not None:
            return outage
        error_id = log_internal_error(
            log, f"unexpected error in {request.method} {request.url.path}", exc
        )
        return JSONResponse(
            {"error": "Internal server error"},
            status_code=500,
            headers={ERROR_ID_HEADER: error_id},
        )

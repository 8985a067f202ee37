"""Error envelopes: ``{"error": ..., "message"?: ...}`` for every failure.

Validation problems become 400 with a sentence naming the field; storage
outages and a lost database connection (the database restarting, or its
connections terminated) 503; anything unexpected a 500 without a stack trace: its body says
only that an internal error happened, and the ``X-Error-Id`` header names the
log line that holds the exception (see :func:`log_internal_error`).
"""

from __future__ import annotations

import logging

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
from tufsync.registry.service import RegistryError
from tufsync.state.locks import LockTimeout
from tufsync.storage import StorageUnavailable
from tufsync.tuf.errors import NotBootstrapped, RoleNotFound, TufInputError

log = logging.getLogger(__name__)
ERROR_ID_HEADER = "X-Error-Id"
# The refusal helpers live with the operations that raise them; routes import them here.
__all__ = [
    "ApiError",
    "bad_request",
    "describe_validation_errors",
    "install_error_handlers",
    "not_found",
]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RegistryError)
    async def _registry(_: Request, exc: RegistryError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    @app.exception_handler(OutOfScope)
    async def _out_of_scope(_: Request, exc: OutOfScope) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=403)

    @app.exception_handler(InvalidName)
    async def _invalid_name(_: Request, exc: InvalidName) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": describe_validation_errors(exc.errors())}, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        text = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, str(exc.detail))
        return JSONResponse({"error": text}, status_code=exc.status_code)

    @app.exception_handler(NotBootstrapped)
    async def _not_bootstrapped(_: Request, exc: NotBootstrapped) -> JSONResponse:
        # State and published files disagree (e.g. settings without metadata): the
        # repository is not usable, which the caller sees as a missing bootstrap.
        body = {
            "error": str(exc),
            "message": "Bootstrap the app with POST /tuf/v1/bootstrap first.",
        }
        return JSONResponse(body, status_code=404)

    @app.exception_handler(RoleNotFound)
    async def _role_not_found(_: Request, exc: RoleNotFound) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=404)

    @app.exception_handler(TufInputError)
    async def _tuf_input(_: Request, exc: TufInputError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=400)

    @app.exception_handler(StorageUnavailable)
    async def _storage(_: Request, exc: StorageUnavailable) -> JSONResponse:
        log.error("storage unavailable: %s", exc)
        return JSONResponse({"error": "Object store unavailable; try again later"}, status_code=503)

    @app.exception_handler(LockTimeout)
    async def _busy(_: Request, exc: LockTimeout) -> JSONResponse:
        log.warning("request gave up waiting: %s", exc)
        return JSONResponse(
            {"error": "The app is busy with another change; try again in a moment"},
            status_code=503,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, DBAPIError | DisconnectionError) and is_connection_loss(exc):
            log.error("database unreachable in %s %s: %s", request.method, request.url.path, exc)
            return JSONResponse({"error": "Database unavailable; try again later"}, status_code=503)
        error_id = log_internal_error(
            log, f"unexpected error in {request.method} {request.url.path}", exc
        )
        return JSONResponse(
            {"error": "Internal server error"},
            status_code=500,
            headers={ERROR_ID_HEADER: error_id},
        )

"""Read-only public files: metadata under ``tuf_metadata/`` and artifact keys.

This is the route every TUF client polls (``timestamp.json`` on each update
check), so it does as little as it can: no dependencies (the services come
straight from ``app.state``, as ``get_services`` reads them), files up to
``INLINE_LIMIT`` bytes answered as one plain response (in a local directory
read inline through a cache validated by ``stat`` on every request, see
:mod:`tufsync.storage.localread`), larger ones streamed with bounded memory.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from tufsync.names import is_public_key
from tufsync.storage import ObjectStore

router = APIRouter(tags=["public"])

INLINE_LIMIT = 64 * 1024
JSON = "application/json"
OCTETS = "application/octet-stream"


def _not_found() -> JSONResponse:
    return JSONResponse({"error": "Not found"}, status_code=404)


def _headers(key: str, size: int) -> dict[str, str]:
    """Content-Length, and ``Cache-Control: no-cache`` on the one mutable file."""
    if key.endswith("timestamp.json"):
        return {"Content-Length": str(size), "Cache-Control": "no-cache"}
    return {"Content-Length": str(size)}


# ``key`` is read from the path parameters rather than declared, so FastAPI has
# nothing to validate or inject; the schema still documents it.
KEY_PARAMETER = {"name": "key", "in": "path", "required": True, "schema": {"type": "string"}}


@router.api_route(
    "/public/{key:path}",
    methods=["GET", "HEAD"],
    openapi_extra={"parameters": [KEY_PARAMETER]},
)
async def public_file(request: Request) -> Response:
    key: str = request.path_params["key"]
    if not is_public_key(key):
        return _not_found()
    storage: ObjectStore = request.app.state.services.storage
    media_type = JSON if key.endswith(".json") else OCTETS
    if request.method == "HEAD":
        info = await storage.head(key)
        if info is None:
            return _not_found()
        return Response(status_code=200, media_type=media_type, headers=_headers(key, info.size))
    opened = await storage.open(key, INLINE_LIMIT)
    if opened is None:
        return _not_found()
    size, body = opened
    if isinstance(body, bytes):
        return Response(body, media_type=media_type, headers=_headers(key, size))
    return StreamingResponse(body, media_type=media_type, headers=_headers(key, size))

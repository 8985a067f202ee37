"""Read-only public files: metadata under ``tuf_metadata/`` and artifact keys."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from tufsync.api.deps import get_services
from tufsync.names import is_public_key
from tufsync.services import Services

router = APIRouter(tags=["public"])


def _not_found() -> JSONResponse:
    return JSONResponse({"error": "Not found"}, status_code=404)


def _media_type(key: str) -> str:
    return "application/json" if key.endswith(".json") else "application/octet-stream"


@router.api_route("/public/{key:path}", methods=["GET", "HEAD"])
async def public_file(
    key: str, request: Request, services: Services = Depends(get_services)
) -> Response:
    if not is_public_key(key):
        return _not_found()
    headers = {"Cache-Control": "no-cache"} if key.endswith("timestamp.json") else {}
    if request.method == "HEAD":
        info = await services.storage.head(key)
        if info is None:
            return _not_found()
        headers["Content-Length"] = str(info.size)
        return Response(status_code=200, media_type=_media_type(key), headers=headers)
    opened = await services.storage.open(key)
    if opened is None:
        return _not_found()
    size, chunks = opened
    headers["Content-Length"] = str(size)
    return StreamingResponse(chunks, media_type=_media_type(key), headers=headers)

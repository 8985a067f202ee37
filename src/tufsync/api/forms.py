"""Reading the registry's multipart bodies: a ``data`` JSON field or plain fields.

Also bounds the request body: past the upload limit the read stops with 413.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.datastructures import FormData, UploadFile
from starlette.types import Message

from tufsync.api.deps import read_json_object
from tufsync.api.errors import ApiError, bad_request
from tufsync.api.jsonsafe import JsonProblem, parse_json_async, small_int

MAX_FILES = 64


def too_large(limit: int) -> ApiError:
    return ApiError(413, f"Upload is larger than the server's limit of {limit} bytes")


def limit_body(request: Request, limit: int, refusal: ApiError | None = None) -> Request:
    """A copy of ``request`` whose body read fails with ``refusal`` (default: the upload
    limit's 413) past ``limit`` bytes; a declared length past it is refused at once."""
    refusal = refusal or too_large(limit)
    declared = small_int(request.headers.get("content-length"))
    if declared is not None and declared > limit:
        raise refusal
    received = 0
    receive = request.receive

    async def limited() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise refusal
        return message

    return Request(request.scope, limited)


async def read_fields(
    request: Request, *, allow_files: bool = False
) -> tuple[dict[str, Any], list[UploadFile]]:
    """Parse multipart (``data`` JSON field or loose fields) or a JSON body."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        return await read_json_object(request), []
    form = await _read_form(request, allow_files)
    fields: dict[str, Any] = {}
    files: list[UploadFile] = []
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            files.append(_file_part(name, value))
        elif name == "data":
            fields.update(await _data_field(value))
        else:
            fields[name] = value
    return fields, files


async def _read_form(request: Request, allow_files: bool) -> FormData:
    """The parsed form; 400 when it cannot be read (413 past the body limit)."""
    try:
        return await request.form(max_files=MAX_FILES if allow_files else 0, max_fields=100)
    except ApiError:
        raise
    except Exception as exc:
        raise bad_request(f"Invalid request: the form could not be read ({exc}).") from None


def _file_part(name: str, value: UploadFile) -> UploadFile:
    """A file part, which must be named ``file``."""
    if name != "file":
        raise bad_request(f"Invalid request: unexpected file part {name!r}; use 'file'.")
    return value


async def _data_field(value: str) -> dict[str, Any]:
    """The ``data`` field: a JSON object (400 otherwise)."""
    try:
        data = await parse_json_async(value.encode("utf-8", "surrogatepass"))
    except JsonProblem as exc:
        raise bad_request(f"Invalid request: the 'data' field {exc}.") from None
    if not isinstance(data, dict):
        raise bad_request("Invalid request: the 'data' field must be a JSON object.")
    return data

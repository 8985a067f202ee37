"""Refusals: the ``{"error", "message"?, "data"?}`` answer an operation gives to a request
it will not accept, and the sentences of malformed input (docs/compatibility.md)."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class ApiError(Exception):
    """A refusal. ``bare``: faynoSync answers exactly ``{"error": ...}`` here and its
    clients compare the body, so the TUF routes do not add their default ``message``
    (see ``tufsync.api.errors.envelope``)."""

    def __init__(
        self,
        status: int,
        error: str,
        message: str | None = None,
        data: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        *,
        bare: bool = False,
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.message = message
        self.data = data
        self.headers = headers
        self.bare = bare

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.error}
        if self.message is not None:
            out["message"] = self.message
        if self.data is not None:
            out["data"] = self.data
        return out


def bad_request(error: str, message: str | None = None) -> ApiError:
    return ApiError(400, error, message)


def not_found(error: str, message: str | None = None) -> ApiError:
    return ApiError(404, error, message)


def describe_validation_errors(errors: Any) -> str:
    parts = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query")]
        field = ".".join(loc) or "body"
        if err.get("type") == "missing":
            parts.append(f"field '{field}' is required")
        elif err.get("type") == "json_invalid":
            parts.append("the body is not valid JSON")
        else:
            parts.append(f"field '{field}': {err.get('msg', 'invalid value')}")
    return "Invalid request: " + "; ".join(parts) + "."


def validate_model(model: type[M], data: Any) -> M:
    """``data`` as ``model``; 400 naming the fields that do not fit."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise bad_request(describe_validation_errors(exc.errors())) from None

"""Logging set-up for ``tufsync serve`` and ``tufsync worker``.

One handler on the root logger writes text or JSON lines (``TUFSYNC_LOG_FORMAT``)
at ``TUFSYNC_LOG_LEVEL``; uvicorn's loggers go through it and its access log
is replaced by tufsync's own request line. Structured lines pass their fields
as ``extra={"fields": {...}}``: top-level keys in JSON, ``key=value`` in text.
As a last guard, anything that looks like a bearer token, a JWT, an API token
or PEM private key material is masked before a line is written.

An unexpected exception is logged once, with its traceback, under a short
random error id (:func:`log_internal_error`); callers show only that id (in a
task's error sentence, in a 500 answer), never the exception's text, which
can hold SQL statements, paths or connection details.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys
import time
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii
from typing import Any

REQUEST_LOGGER = "tufsync.request"
TASK_LOGGER = "tufsync.task"
ERROR_ID_BYTES = 6  # 12 hex digits: unique among a server's errors, short enough to read out

_SECRETS = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----"
    r"|(?i:bearer)\s+\S+"
    r"|eyJ[\w-]+\.[\w-]+\.[\w-]+"
    r"|fns_[A-Za-z0-9_-]+",
    re.DOTALL,
)
MASK = "[redacted]"
NOISY = ("alembic", "tuf", "securesystemslib", "taskiq", "httpx", "aiosqlite")


def redact(text: str) -> str:
    return _SECRETS.sub(MASK, text)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "fields", None)
    return fields if isinstance(fields, dict) else {}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then the fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in _fields(record).items():
            out.setdefault(key, value)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(out, default=str, ensure_ascii=False))


def _json_value(value: Any) -> str:
    """``json.dumps(value, default=str)``, with the common scalar types done directly."""
    kind = type(value)
    if kind is str:
        return str(encode_basestring_ascii(value))
    if kind is int:
        return str(value)
    if value is None:
        return "null"
    if kind is float and value == value and value not in (float("inf"), float("-inf")):
        return repr(value)
    return json.dumps(value, default=str)


class TextFormatter(logging.Formatter):
    """``<time> <LEVEL> <logger>: <message> key=value ...``"""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._second = -1
        self._second_text = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """logging's default ``YYYY-MM-DD HH:MM:SS,mmm``, the seconds formatted once a second."""
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        if second != self._second:
            self._second_text = time.strftime("%Y-%m-%d %H:%M:%S", self.converter(second))
            self._second = second
        return f"{self._second_text},{int(record.msecs):03d}"

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = _fields(record)
        if fields:
            line += " " + " ".join(f"{k}={_json_value(v)}" for k, v in fields.items())
        return redact(line)


class _TufsyncHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler this module installed, so configuring twice replaces it."""


def configure_logging(level: str = "info", fmt: str = "text") -> None:
    """Install the one handler on the root logger; route uvicorn's loggers through it."""
    handler = _TufsyncHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _TufsyncHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "taskiq"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # The request line below replaces uvicorn's access log (which shows query strings).
    logging.getLogger("uvicorn.access").disabled = True
    # Libraries' own INFO lines (migration plugins, every unsigned keyid python-tuf
    # meets, each message taskiq receives) only at debug level.
    quiet = logging.DEBUG if root.level <= logging.DEBUG else logging.WARNING
    for name in NOISY:
        logging.getLogger(name).setLevel(quiet)


_request_log = logging.getLogger(REQUEST_LOGGER)


def log_request(
    method: str, route: str, status: int, seconds: float, admin: str | None, client: str | None
) -> None:
    """The request line. Built as ``Logger.info`` builds it, minus the search for the
    caller's source line (which no format shows): this runs on every request."""
    if not _request_log.isEnabledFor(logging.INFO):
        return
    ms = seconds * 1000
    fields = {
        "event": "request",
        "method": method,
        "route": route,
        "status": status,
        "duration_ms": round(ms, 2),
        "admin": admin,
        "client": client,
    }
    record = _request_log.makeRecord(
        REQUEST_LOGGER,
        logging.INFO,
        __file__,
        0,
        "%s %s %d %.1f ms",
        (method, route, status, ms),
        None,
        extra={"fields": fields},
    )
    _request_log.handle(record)


def log_task(
    name: str, admin: str, app: str, task_id: str, outcome: str, seconds: float, error: str | None
) -> None:
    level = logging.INFO if outcome == "success" else logging.WARNING
    fields: dict[str, Any] = {
        "event": "task",
        "task": name,
        "admin": admin,
        "app": app,
        "task_id": task_id,
        "outcome": outcome,
        "duration_ms": round(seconds * 1000, 2),
    }
    if error:
        fields["error"] = error
    logging.getLogger(TASK_LOGGER).log(
        level, "task %s %s/%s %s", name, admin, app, outcome, extra={"fields": fields}
    )


def new_error_id() -> str:
    """A short random id naming one internal error in the log."""
    return secrets.token_hex(ERROR_ID_BYTES)


def log_internal_error(logger: logging.Logger, what: str, exc: BaseException, **fields: Any) -> str:
    """Log ``exc`` with its traceback under a new error id; return the id.

    The line reads ``<what> (error id <id>)`` with the fields ``event``
    (``internal_error``), ``error_id`` and ``fields``.
    """
    error_id = new_error_id()
    logger.error(
        "%s (error id %s)",
        what,
        error_id,
        exc_info=(type(exc), exc, exc.__traceback__),
        extra={"fields": {"event": "internal_error", "error_id": error_id, **fields}},
    )
    return error_id

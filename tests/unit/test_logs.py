"""Log line formats and the last-guard masking of secrets (pure logic)."""

from __future__ import annotations

import json
import logging

from tufsync.observability.logs import (
    MASK,
    JsonFormatter,
    TextFormatter,
    log_internal_error,
    redact,
)

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXZhbHVl"
PEM = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIBx\n-----END PRIVATE KEY-----"


def record(message: str, **fields: object) -> logging.LogRecord:
    rec = logging.LogRecord("tufsync.test", logging.INFO, __file__, 1, message, None, None)
    rec.fields = fields
    return rec


def test_redact_masks_tokens_and_key_material() -> None:
    for secret in (JWT, f"Bearer {JWT}", "bearer abc.def", PEM, "fns_0123456789abcdef"):
        assert redact(f"before {secret} after") == f"before {MASK} after"
    assert redact("GET /tuf/v1/task 200") == "GET /tuf/v1/task 200"


def test_json_line_has_fields_at_top_level_and_no_secret() -> None:
    line = JsonFormatter().format(
        record("task %s failed", event="task", admin="alice", error=f"boom {PEM}")
    )
    data = json.loads(line)
    assert data["event"] == "task" and data["admin"] == "alice"
    assert data["logger"] == "tufsync.test" and data["level"] == "info"
    assert "PRIVATE KEY" not in line and MASK in data["error"]


def test_text_line_appends_fields() -> None:
    line = TextFormatter().format(record("GET /health 200", route="/health", status=200))
    assert line.endswith('GET /health 200 route="/health" status=200')
    assert " INFO tufsync.test: " in line


def test_internal_error_is_logged_once_under_a_fresh_id() -> None:
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, rec: logging.LogRecord) -> None:
            lines.append(JsonFormatter().format(rec))

    logger = logging.getLogger("tufsync.test.internal")
    logger.addHandler(Collect())
    logger.propagate = False
    try:
        raise RuntimeError("[SQL: SELECT secret FROM users]")
    except RuntimeError as exc:
        first = log_internal_error(logger, "task t-1 failed", exc, task_id="t-1")
        second = log_internal_error(logger, "task t-1 failed", exc)
    assert first != second and len(first) == 12 and int(first, 16) >= 0
    data = json.loads(lines[0])
    assert data["message"] == f"task t-1 failed (error id {first})"
    assert data["error_id"] == first and data["event"] == "internal_error"
    assert data["task_id"] == "t-1" and data["level"] == "error"
    assert "SELECT secret FROM users" in data["exception"]

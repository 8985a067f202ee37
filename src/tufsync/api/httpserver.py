"""How uvicorn serves tufsync: the event loop, the HTTP protocol and the request-head bound.

Every tufsync HTTP server (``tufsync serve``, one or N processes, and the
worker's health and metrics port) takes its uvicorn options from
:func:`server_options`, so each one bounds request heads (the request line and
headers; ``TUFSYNC_MAX_REQUEST_HEAD_BYTES``, README "Settings"):

- with httptools installed (``uvicorn[standard]``): uvicorn's httptools protocol
  behind :class:`~tufsync.api.bounded_protocol.BoundedHttpToolsProtocol`, which
  answers 431 as soon as a head passes the bound while it streams in, and sends
  each small response in one write (:mod:`tufsync.api.coalescing`);
- without it: uvicorn's h11 protocol, whose ``h11_max_incomplete_event_size``
  is the same bound (h11 refuses with 400 and closes the connection).
"""

from __future__ import annotations

import asyncio
import importlib.util
from typing import Any


def has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def http_protocol() -> type[asyncio.Protocol] | str:
    """The HTTP protocol for uvicorn: bounded httptools when installed, else h11.

    A class of a module (not of a function): ``serve --workers N`` pickles it for the
    worker processes."""
    if not has_module("httptools"):
        return "h11"
    from tufsync.api.bounded_protocol import BoundedHttpToolsProtocol

    return BoundedHttpToolsProtocol


def event_loop() -> str:
    """uvloop when installed (``uvicorn[standard]`` brings it), else asyncio's loop."""
    return "uvloop" if has_module("uvloop") else "asyncio"


def server_options(max_request_head_bytes: int) -> dict[str, Any]:
    """The HTTP keyword arguments of ``uvicorn.Config`` / ``uvicorn.run`` for every
    tufsync HTTP server (the event loop is chosen apart: see :func:`event_loop`)."""
    return {
        "http": http_protocol(),
        # The bound on a request's line and headers: h11 reads it itself, and
        # BoundedHttpToolsProtocol reads it from the same setting.
        "h11_max_incomplete_event_size": max_request_head_bytes,
    }

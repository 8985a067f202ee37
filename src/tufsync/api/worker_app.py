"""The small HTTP side of ``tufsync worker``: ``/health``, ``/ready`` and ``/metrics``.

It listens on a port of its own (``TUFSYNC_WORKER_PORT``, loopback by default)
inside the worker's event loop. ``/health`` fails once the task receiver has
stopped; ``/metrics`` shows this worker's task counters and follows the same
access rules as the API's page.

:func:`run_event_loop` runs the worker's event loop on uvloop, as uvicorn runs
the API's: nearly every step of a task is a Redis or PostgreSQL round trip, and
the standard asyncio loop spent about as much CPU on that I/O as the task itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from tufsync.api.errors import install_error_handlers
from tufsync.api.httpserver import server_options
from tufsync.api.routers import metrics, ops
from tufsync.services import Services


def create_worker_app(services: Services, receiver: asyncio.Task[None]) -> FastAPI:
    app = FastAPI(title="tufsync worker", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.services = services
    install_error_handlers(app)

    @app.get("/health")
    async def health() -> Any:
        if receiver.done():
            return JSONResponse(
                {"status": "unhealthy", "error": "the task receiver has stopped"}, status_code=503
            )
        return {"status": "healthy", "role": "worker"}

    app.add_api_route("/ready", ops.ready, methods=["GET"])
    app.include_router(metrics.router)
    return app


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the worker."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_worker_http(
    services: Services, receiver: asyncio.Task[None], host: str, port: int
) -> None:
    config = uvicorn.Config(
        create_worker_app(services, receiver),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="off",
        **server_options(services.settings.max_request_head_bytes),
    )
    await _Server(config).serve()


def run_event_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` to its end on uvloop where it is installed, else on asyncio."""
    try:
        import uvloop
    except ImportError:  # e.g. Windows or PyPy, where uvloop does not exist
        asyncio.run(main)
        return
    uvloop.run(main)

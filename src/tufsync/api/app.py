"""The FastAPI application factory; start-up builds the services, shutdown closes them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from tufsync import __version__
from tufsync.api.bodylimit import BodyLimitMiddleware
from tufsync.api.cors import install_cors
from tufsync.api.errors import install_error_handlers
from tufsync.api.observe import RequestObserver
from tufsync.api.routers import (
    accounts,
    catalogs,
    metrics,
    ops,
    public,
    registry,
    tokens,
    tuf_artifacts,
    tuf_audit,
    tuf_bootstrap,
    tuf_config,
    tuf_expiry,
    tuf_keys,
    tuf_metadata,
    tuf_online,
    tuf_signing,
    tuf_tasks,
)
from tufsync.auth.cache import AuthCache
from tufsync.observability.metrics import process_exiting
from tufsync.services import Services, settle_heap
from tufsync.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await Services.start(settings)
        app.state.services = services
        app.state.auth = AuthCache.open(services.settings.resolved_database_url)
        settle_heap()
        try:
            yield
        finally:
            await app.state.auth.close()
            await services.stop()
            process_exiting()

    app = FastAPI(
        title="tufsync",
        version=__version__,
        description="A TUF repository service for software update servers.",
        lifespan=lifespan,
        # Observability is tufsync's own (request log line, Prometheus metrics); without
        # this FastAPI asks OpenTelemetry for its providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, upload_limit=settings.max_upload_bytes)
    app.add_middleware(RequestObserver)
    install_cors(app, settings)
    # Routes are matched in this order: /health first, then the public files
    # every TUF client polls, ahead of the twenty-odd authenticated routes.
    for module in (
        ops,
        public,
        accounts,
        registry,
        catalogs,
        tokens,
        tuf_bootstrap,
        tuf_tasks,
        tuf_artifacts,
        tuf_metadata,
        tuf_config,
        tuf_online,
        tuf_keys,
        tuf_signing,
        tuf_audit,
        tuf_expiry,
        metrics,
    ):
        app.include_router(module.router)
    return app


def create_app_from_env() -> FastAPI:
    """The factory ``tufsync serve --workers N`` gives uvicorn: settings from the
    environment, logging configured in each process."""
    from tufsync.observability.logs import configure_logging

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)

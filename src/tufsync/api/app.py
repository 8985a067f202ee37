"""The FastAPI application factory; start-up builds the services, shutdown closes them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from tufsync import __version__
from tufsync.api.cors import install_cors
from tufsync.api.errors import install_error_handlers
from tufsync.api.routers import (
    accounts,
    catalogs,
    ops,
    public,
    registry,
    tokens,
    tuf_artifacts,
    tuf_audit,
    tuf_bootstrap,
    tuf_config,
    tuf_metadata,
    tuf_online,
    tuf_signing,
    tuf_tasks,
)
from tufsync.services import Services
from tufsync.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await Services.start(settings)
        app.state.services = services
        try:
            yield
        finally:
            await services.stop()

    app = FastAPI(
        title="tufsync",
        version=__version__,
        description="A TUF repository service for software update servers.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    install_cors(app, settings)
    for module in (
        ops,
        accounts,
        registry,
        catalogs,
        tokens,
        public,
        tuf_bootstrap,
        tuf_tasks,
        tuf_artifacts,
        tuf_metadata,
        tuf_config,
        tuf_online,
        tuf_signing,
        tuf_audit,
    ):
        app.include_router(module.router)
    return app

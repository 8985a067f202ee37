"""Health and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from tufsync.api.deps import get_services
from tufsync.db import engine as db_engine
from tufsync.services import Services

router = APIRouter(tags=["operations"])


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "healthy"}


@router.get("/ready")
async def ready(services: Services = Depends(get_services)) -> Any:
    checks = {
        "state store": services.state.ping(),
        "database": db_engine.ping(services.db),
        "object store": services.storage.ping(),
    }
    for name, check in checks.items():
        try:
            await check
        except Exception as exc:
            for other in checks.values():
                other.close()
            return JSONResponse({"error": f"{name} is not answering: {exc}"}, status_code=503)
    return {"status": "ready"}

"""Health and readiness.

``/ready`` asks the state store, the database and the object store at once, each
bounded by :data:`READY_TIMEOUT`; a failing part is named and nothing more (no
endpoint, bucket or prefix reaches an unauthenticated caller); the details go to
the log (docs/api.md §6).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from tufsync.api.deps import get_services
from tufsync.db import engine as db_engine
from tufsync.services import Services

router = APIRouter(tags=["operations"])
log = logging.getLogger(__name__)
READY_TIMEOUT = 1.5


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "healthy"}


async def _answers(name: str, check: Awaitable[None]) -> bool:
    try:
        await asyncio.wait_for(check, READY_TIMEOUT)
    except TimeoutError:
        log.warning("readiness: %s did not answer within %.1f s", name, READY_TIMEOUT)
        return False
    except Exception as exc:
        log.warning("readiness: %s is not answering: %s", name, exc)
        return False
    return True


@router.get("/ready")
async def ready(services: Services = Depends(get_services)) -> Any:
    checks = {
        "state store": services.state.ping(),
        "database": db_engine.ping(services.db),
        "object store": services.storage.ping(),
    }
    results = await asyncio.gather(*(_answers(name, c) for name, c in checks.items()))
    failing = [name for name, ok in zip(checks, results, strict=True) if not ok]
    if failing:
        verb = "is" if len(failing) == 1 else "are"
        return JSONResponse(
            {"error": f"{' and '.join(failing)} {verb} not answering"}, status_code=503
        )
    return {"status": "ready"}

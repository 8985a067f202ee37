"""The body limit middleware answers 413 however a route reads its body (docs/api.md §6).

Routes that parse with FastAPI's own body models turn read errors into a 400 of
their own; the middleware still answers 413 once the limit was passed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI
from pydantic import BaseModel

from tufsync.api.bodylimit import BodyLimitMiddleware
from tufsync.api.errors import install_error_handlers


class Body(BaseModel):
    name: str


def make_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, upload_limit=10_000, json_limit=1_000)

    @app.post("/model")
    async def model_route(body: Body) -> dict[str, str]:
        return {"name": body.name}

    return app


async def chunks(total: int) -> AsyncIterator[bytes]:
    yield b'{"name": "'
    for _ in range(total // 100):
        yield b"a" * 100
    yield b'"}'


async def test_413_for_chunked_and_declared_bodies_on_a_model_route() -> None:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        small = await client.post("/model", json={"name": "ok"})
        assert small.status_code == 200
        chunked = await client.post(
            "/model", content=chunks(5_000), headers={"Content-Type": "application/json"}
        )
        assert chunked.status_code == 413
        assert "limit of 1000 bytes" in chunked.json()["error"]
        declared = await client.post(
            "/model", content=b" " * 1_001, headers={"Content-Type": "application/json"}
        )
        assert declared.status_code == 413

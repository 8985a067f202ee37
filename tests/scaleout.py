"""Fixtures for the scale-out parts: moto's S3 server, a fresh PostgreSQL database, Redis."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import asyncpg
import boto3
import pytest
import redis
from moto.server import ThreadedMotoServer

from tests.support import free_port

PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_BASE = "redis://127.0.0.1:6379"
# Parallel checkouts on one machine set this so their suites never share a Redis database.
TEST_REDIS_DB = int(os.environ.get("TUFSYNC_TEST_REDIS_DB", "9"))
S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@dataclass(frozen=True)
class S3Endpoint:
    url: str
    bucket: str

    def storage_url(self, prefix: str = "tufsync") -> str:
        return f"s3://{self.bucket}/{prefix}"

    def env(self) -> dict[str, str]:
        return {
            "TUFSYNC_S3_ENDPOINT": self.url,
            "TUFSYNC_S3_REGION": "us-east-1",
            "TUFSYNC_S3_ACCESS_KEY_ID": "testing",
            "TUFSYNC_S3_SECRET_ACCESS_KEY": "testing",
        }


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Endpoint]:
    os.environ.update(S3_CREDENTIALS)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    bucket = f"tufsync-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=url, region_name="us-east-1").create_bucket(Bucket=bucket)
    yield S3Endpoint(url, bucket)
    server.stop()


async def _admin_async(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _admin(sql: str) -> None:
    """Run one administrative statement (in a thread: callers may be inside an event loop)."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _admin_async(sql)).result()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (fails if PostgreSQL is down)."""
    name = f"tufsync_{uuid.uuid4().hex[:10]}"
    _admin(f'CREATE DATABASE "{name}"')
    yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_db() -> Iterator[str]:
    """A Redis database number of its own, flushed before and after (fails if Redis is down)."""
    db = TEST_REDIS_DB
    client = redis.Redis.from_url(f"{REDIS_BASE}/{db}")
    client.flushdb()
    yield f"{REDIS_BASE}/{db}"
    client.flushdb()
    client.close()

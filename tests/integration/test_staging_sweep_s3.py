"""The staging sweep on S3 (scale-out): only objects older than any upload go
(docs/api.md §6 "Limits"), against moto's real S3 server."""

from __future__ import annotations

import asyncio

from tests.scaleout import S3Endpoint
from tufsync.registry.uploads import sweep_staging
from tufsync.storage import open_store
from tufsync.tenant_keys import STAGING_PREFIX


async def test_sweep_removes_only_old_staging_objects(s3: S3Endpoint) -> None:
    env = s3.env()
    storage = open_store(
        s3.storage_url("sweep"),
        s3_endpoint=env["TUFSYNC_S3_ENDPOINT"],
        s3_access_key_id=env["TUFSYNC_S3_ACCESS_KEY_ID"],
        s3_secret_access_key=env["TUFSYNC_S3_SECRET_ACCESS_KEY"],
    )
    old = f"{STAGING_PREFIX}0123456789abcdef0123456789abcdef"
    public = "tuf_metadata/alice/app/1.root.json"
    await storage.put(old, b"left by a crashed upload")
    await storage.put(public, b"{}")
    await asyncio.sleep(2.5)
    fresh = f"{STAGING_PREFIX}fedcba9876543210fedcba9876543210"
    await storage.put(fresh, b"an upload running right now")
    assert await sweep_staging(storage, 2.0) == 1
    assert not await storage.exists(old)
    assert await storage.exists(fresh)
    assert await storage.exists(public)

"""Shared benchmark plumbing: a real server, seeded repositories, timing helpers."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from tests.support import Api, ceremony

FILES_PER_UPLOAD = 64


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary_ms(values: list[float]) -> str:
    return (
        f"median {statistics.median(values) * 1000:7.1f} ms   "
        f"p95 {percentile(values, 95) * 1000:7.1f} ms   (n={len(values)})"
    )


def bootstrap_app(api: Api, app: str) -> None:
    api.bootstrap_ok(ceremony(api.server.key_dir, api.username, app).payload)


def seed_targets(api: Api, app: str, count: int) -> None:
    """Publish ``count`` targets into ``app``, 64 artifacts per version."""
    done = 0
    batch = 0
    while done < count:
        n = min(FILES_PER_UPLOAD, count - done)
        files = {f"seed.x{i}": f"{app}-{batch}-{i}".encode() for i in range(n)}
        version = f"0.{batch}"
        version_id = api.upload_ok(app, version, files, platform="seed")
        api.publish_ok(version_id, version)
        done += n
        batch += 1


def time_publish(api: Api, app: str, version: str, payload: bytes) -> float:
    """Seconds from the publish request to task SUCCESS for a one-artifact version."""
    version_id = api.upload_ok(app, version, {"app.bin": payload}, platform="bench")
    start = time.perf_counter()
    response = api.post(
        "/tuf/v1/artifacts/publish", json={"app_id": version_id, "version": version}
    )
    task_id = response.json()["data"]["task_id"]
    while True:
        state = api.get("/tuf/v1/task", params={"task_id": task_id}).json()["data"]["state"]
        if state == "SUCCESS":
            return time.perf_counter() - start
        if state == "FAILURE":
            raise RuntimeError(f"publish failed: {task_id}")
        time.sleep(0.005)


def metadata_sizes(public_dir: Path, admin: str, app: str) -> dict[str, int]:
    """Bytes of the newest version of each metadata file."""
    folder = public_dir / "tuf_metadata" / admin / app
    latest: dict[str, tuple[int, int]] = {}
    for path in folder.glob("*.json"):
        parts = path.name.split(".")
        if parts[0].isdigit():
            version, role = int(parts[0]), ".".join(parts[1:-1])
        else:
            version, role = 0, parts[0]
        if role not in latest or version > latest[role][0]:
            latest[role] = (version, path.stat().st_size)
    return {role: size for role, (_, size) in sorted(latest.items())}

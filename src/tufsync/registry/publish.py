"""Which registry artifacts a publish request names (faynoSync's resolution).

``POST /tuf/v1/artifacts/publish`` carries ``app_id`` and ``version``. As on
faynoSync's server, ``app_id`` is the application id and ``version`` selects
that app's version; a version id in ``app_id`` is accepted too (older tufsync
clients send it). Lookups are scoped to the owner, so a foreign id answers as a
missing one. One query reads the version rows, their unsigned artifacts and the
claims on those artifacts' paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tufsync.auth.scope import require_app
from tufsync.db import queries
from tufsync.registry.service import RegistryError


@dataclass(frozen=True)
class PublishSelection:
    app_name: str
    version_ids: list[str]
    specs: list[dict[str, Any]]
    # Claimed paths among the specs: path → the task id that will touch it.
    claimed: dict[str, str]


def _named_rows(rows: list[queries.PublishRow], app_id: str) -> list[queries.PublishRow]:
    """The rows of the app ``app_id``; else (an older client's version id) that version's."""
    of_app = [r for r in rows if r.app_id == app_id]
    return of_app or [r for r in rows if r.version_id == app_id]


async def resolve_publish(
    session: queries.Executor, owner_id: int, app_id: str, version: str
) -> PublishSelection:
    """The unsigned artifacts of ``version`` of the app ``app_id`` (every channel)."""
    rows = _named_rows(await queries.publish_rows(session, owner_id, app_id, version), app_id)
    if not rows:
        raise RegistryError(404, f"App version not found: app_id={app_id}, version={version}")
    require_app(rows[0].app_name)  # an API token publishes only the apps it covers
    specs = [
        {
            "path": r.tuf_path,
            "length": r.length,
            "hashes": {"sha256": r.sha256, "sha512": r.sha512},
        }
        for r in rows
        if r.tuf_path is not None
    ]
    claimed = {r.tuf_path: r.claimed_by for r in rows if r.tuf_path and r.claimed_by}
    return PublishSelection(
        rows[0].app_name, list(dict.fromkeys(r.version_id for r in rows)), specs, claimed
    )

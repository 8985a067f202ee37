"""Which registry artifacts a publish request names (faynoSync's resolution).

``POST /tuf/v1/artifacts/publish`` carries ``app_id`` and ``version``. As on
faynoSync's server, ``app_id`` is the application id and ``version`` selects
that app's version; a version id in ``app_id`` is accepted too (older tufsync
clients send it). Lookups are scoped to the owner, so a foreign id answers as a
missing one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tufsync.auth.scope import require_app
from tufsync.db import queries
from tufsync.db.models import Version
from tufsync.registry.service import RegistryError


@dataclass(frozen=True)
class PublishSelection:
    app_name: str
    version_ids: list[str]
    specs: list[dict[str, Any]]


async def resolve_publish(
    session: AsyncSession, owner_id: int, app_id: str, version: str
) -> PublishSelection:
    """The unsigned artifacts of ``version`` of the app ``app_id`` (every channel)."""
    rows: list[Version] = list(await queries.app_versions(session, owner_id, app_id, version))
    if not rows:
        row = await queries.get_version(session, owner_id, app_id)
        if row is not None and row.version == version:
            rows = [row]
    if not rows:
        raise RegistryError(404, f"App version not found: app_id={app_id}, version={version}")
    require_app(rows[0].app.name)  # an API token publishes only the apps it covers
    specs = [
        {
            "path": a.tuf_path,
            "length": a.length,
            "hashes": {"sha256": a.sha256, "sha512": a.sha512},
        }
        for row in rows
        for a in row.artifacts
        if not a.tuf_signed
    ]
    return PublishSelection(rows[0].app.name, [r.id for r in rows], specs)

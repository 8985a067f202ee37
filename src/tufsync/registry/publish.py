"""Which registry artifacts a publish request names (faynoSync's resolution), claimed.

``POST /tuf/v1/artifacts/publish`` carries ``app_id`` and ``version``. As on
faynoSync's server, ``app_id`` is the application id and ``version`` selects
that app's version; a version id in ``app_id`` is accepted too (older tufsync
clients send it). Lookups are scoped to the owner, so a foreign id answers as a
missing one. One query reads the version rows, their unsigned artifacts and the
claims on those artifacts' paths; unless one of them is claimed, one INSERT
claims them all, in the same transaction and the same call (one greenlet on
PostgreSQL, one thread hop on SQLite: tufsync.db.transactions).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from tufsync.auth.scope import require_app
from tufsync.db import queries
from tufsync.db.transactions import Transaction
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


def _selection(rows: list[queries.PublishRow]) -> PublishSelection:
    """The unsigned artifacts of ``rows`` (every channel) and the claims on them."""
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
    version_ids = list(dict.fromkeys(r.version_id for r in rows))
    return PublishSelection(rows[0].app_name, version_ids, specs, claimed)


def _select_and_claim(
    conn: Connection, owner_id: int, app_id: str, version: str, task_id: str
) -> PublishSelection | None:
    """The selection (None: no such version), its paths claimed for ``task_id`` unless
    one of them is claimed already."""
    rows = _named_rows(queries.publish_rows(conn, owner_id, app_id, version), app_id)
    if not rows:
        return None
    selection = _selection(rows)
    if not selection.claimed:
        queries.insert_claims(conn, [s["path"] for s in selection.specs], task_id)
    return selection


async def claim_publish(
    tx: Transaction, owner_id: int, app_id: str, version: str, task_id: str
) -> PublishSelection:
    """The unsigned artifacts of ``version`` of the app ``app_id`` (every channel), claimed
    for ``task_id`` in the transaction ``tx`` unless ``selection.claimed`` names a path.

    404 when there is no such version of the owner's; 403 when an API token does
    not cover the app (the caller's transaction then rolls the claims back).
    """
    selection = await tx.run(_select_and_claim, owner_id, app_id, version, task_id)
    if selection is None:
        raise RegistryError(
            404, f"App version not found: app_id={app_id}, version={version}", bare=True
        )
    require_app(selection.app_name)  # an API token publishes only the apps it covers
    return selection

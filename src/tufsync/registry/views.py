"""The JSON shapes of the registry routes, as faynoSync's server answers them.

Field names and casing follow faynoSync's Go models (``server/model/model.go``);
tufsync adds ``Index``, ``Length``, ``Hashes`` and ``TufPath`` to each artifact.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tufsync.db.models import ApiToken, App, Artifact, CatalogItem, Version
from tufsync.db.queries import as_utc

CATALOG_NAME_FIELD = {"channel": "ChannelName", "platform": "PlatformName", "arch": "ArchID"}


def timestamp(value: datetime | None) -> str | None:
    """ISO 8601 with offset (SQLite hands back naive UTC values)."""
    return None if value is None else as_utc(value).isoformat()


def artifact_view(index: int, artifact: Artifact, public_url: str) -> dict[str, Any]:
    return {
        "link": f"{public_url}/{artifact.tuf_path}",
        "platform": artifact.platform,
        "arch": artifact.arch,
        "package": artifact.package,
        "TufTaskID": artifact.tuf_task_id,
        "TufSigned": bool(artifact.tuf_signed),
        # The offline role whose key holders must still sign it (null: none).
        "TufAwaitingSignatures": artifact.tuf_awaiting,
        "Index": str(index),
        "Length": artifact.length,
        "Hashes": {"sha256": artifact.sha256, "sha512": artifact.sha512},
        "TufPath": artifact.tuf_path,
    }


def version_view(version: Version, public_url: str) -> dict[str, Any]:
    return {
        "ID": version.id,
        "AppName": version.app.name,
        "Version": version.version,
        "Channel": version.channel,
        "Published": bool(version.published),
        "Critical": bool(version.critical),
        "Intermediate": bool(version.intermediate),
        "Artifacts": [artifact_view(i, a, public_url) for i, a in enumerate(version.artifacts)],
        "Changelog": list(version.changelog or []),
        "Updated_at": timestamp(version.updated_at),
    }


def app_view(app: App, owner: str) -> dict[str, Any]:
    return {
        "ID": app.id,
        "AppName": app.name,
        "Logo": app.logo or "",
        "Private": bool(app.private),
        "Tuf": bool(app.tuf),
        "Reports": bool(app.reports),
        "CdnEdge": bool(app.cdn_edge),
        "Description": app.description or "",
        "Owner": owner,
        "Updated_at": timestamp(app.updated_at),
    }


def catalog_view(item: CatalogItem, owner: str) -> dict[str, Any]:
    out: dict[str, Any] = {"ID": item.id, CATALOG_NAME_FIELD[item.kind]: item.name}
    if item.kind == "platform":
        out["Updaters"] = list(item.updaters or [])
    out["Owner"] = owner
    out["Updated_at"] = timestamp(item.updated_at)
    return out


def token_view(token: ApiToken) -> dict[str, Any]:
    """A token as listed: never its secret nor its hash."""
    out: dict[str, Any] = {
        "id": token.id,
        "name": token.name,
        "token_prefix": token.token_prefix,
        "allowed_apps": list(token.allowed_apps or []),
        "created_at": timestamp(token.created_at),
    }
    if token.expires_at is not None:
        out["expires_at"] = timestamp(token.expires_at)
    if token.last_used_at is not None:
        out["last_used_at"] = timestamp(token.last_used_at)
    return out

"""The JSON shapes of the registry routes (faynoSync's historic field names)."""

from __future__ import annotations

from typing import Any

from tufsync.db.models import App, Artifact, Version


def artifact_view(index: int, artifact: Artifact, public_url: str) -> dict[str, Any]:
    return {
        "Index": str(index),
        "Link": f"{public_url}/{artifact.tuf_path}",
        "Platform": artifact.platform,
        "Arch": artifact.arch,
        "Package": artifact.package,
        "Length": artifact.length,
        "Hashes": {"sha256": artifact.sha256, "sha512": artifact.sha512},
        "TufPath": artifact.tuf_path,
        "TufSigned": bool(artifact.tuf_signed),
    }


def version_view(version: Version, public_url: str) -> dict[str, Any]:
    return {
        "ID": version.id,
        "AppName": version.app.name,
        "Version": version.version,
        "Channel": version.channel,
        "Published": bool(version.published),
        "Critical": bool(version.critical),
        "Artifacts": [artifact_view(i, a, public_url) for i, a in enumerate(version.artifacts)],
        "Changelog": list(version.changelog or []),
        "Updated_at": version.updated_at.isoformat(),
    }


def app_view(app: App) -> dict[str, Any]:
    return {
        "ID": app.id,
        "AppName": app.name,
        "Description": app.description or "",
        "Updated_at": app.updated_at.isoformat(),
    }

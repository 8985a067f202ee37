"""Checks shared by the operations: the repository exists and is usable."""

from __future__ import annotations

from tufsync.operations.refusal import ApiError, not_found
from tufsync.tuf.config import RepoConfig
from tufsync.tuf.repository import Repository


def not_bootstrapped(app: str) -> ApiError:
    return not_found(
        f"Repository for app {app!r} is not bootstrapped",
        "Bootstrap the app with POST /tuf/v1/bootstrap first.",
    )


async def require_bootstrapped(repo: Repository) -> RepoConfig:
    """The repository's settings; 404 when it has no completed bootstrap."""
    config = await repo.config()
    if config is None:
        raise not_bootstrapped(repo.app)
    return config


async def require_ready(repo: Repository) -> RepoConfig:
    """Like :func:`require_bootstrapped`, and 409 while a bootstrap or signing runs."""
    config = await require_bootstrapped(repo)
    marker = await repo.bootstrap_marker()
    if marker and marker.startswith(("pre-", "signing-")):
        raise ApiError(
            409,
            f"Repository for app {repo.app!r} is busy (state {marker}); try again when it finishes",
        )
    return config

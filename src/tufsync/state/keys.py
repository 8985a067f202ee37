"""Every state-store key name in one place (tenant-scoped by admin and app)."""

from __future__ import annotations


def bootstrap(admin: str, app: str) -> str:
    """Bootstrap marker: ``pre-<task>`` while running, ``<task>`` when completed."""
    return f"BOOTSTRAP_{admin}_{app}"


def settings(admin: str, app: str) -> str:
    """Repository settings as shown by GET /tuf/v1/config (JSON)."""
    return f"SETTINGS_{admin}_{app}"


def signing(role: str, admin: str, app: str) -> str:
    """A draft awaiting signatures, e.g. ``ROOT_SIGNING_<admin>_<app>``."""
    return f"{role.upper()}_SIGNING_{admin}_{app}"


def recovery(admin: str, app: str) -> str:
    return f"RECOVERY_{admin}_{app}"


def repo_lock(admin: str, app: str) -> str:
    """The lock that serialises every metadata change of one repository."""
    return f"LOCK_TUF_{admin}_{app}"


def repo_index(admin: str, app: str) -> str:
    """Per-repository expiry schedule of online roles (also the list of repositories)."""
    return f"{REPO_PREFIX}{admin}/{app}"


def refresh_queued(admin: str, app: str) -> str:
    """Set while an automatic refresh of the repository is queued or running."""
    return f"REFRESH_QUEUED_{admin}/{app}"


SCHEDULER_LOCK = "LOCK_REFRESH_SCHEDULER"
REPO_PREFIX = "REPO_"


def target_batch(admin: str, app: str) -> str:
    """Set of publish/remove task ids waiting to be merged into one metadata change."""
    return f"BATCH_{admin}/{app}"


def task_lease(task_id: str) -> str:
    """Held by the worker running a task, so a redelivered message is not run twice."""
    return f"LOCK_TASK_{task_id}"


def task(task_id: str) -> str:
    return f"TASK_{task_id}"


TASK_PREFIX = "TASK_"

"""The names of the task kinds, as stored in task records and shown by ``GET /tuf/v1/task``.

The values are the names faynoSync's clients see; records written by earlier
versions carry the same strings, so they keep loading.
"""

from __future__ import annotations

from enum import StrEnum


class TaskName(StrEnum):
    BOOTSTRAP = "bootstrap"
    RECOVERY = "bootstrap_recovery"
    PUBLISH = "add_artifacts"
    # The name publish tasks had before faynoSync's ``add_artifacts``.
    PUBLISH_LEGACY = "publish_artifacts"
    REMOVE = "remove_artifacts"
    UPDATE_SETTINGS = "update_settings"
    ROOT_ROTATION = "metadata_update"
    DELEGATED_ROTATION = "metadata_delegation"
    FINALIZE_SIGNING = "sign_metadata"
    CANCEL_SIGNING = "delete_sign_metadata"
    FORCE_UPDATE = "force_online_metadata_update"
    # Queued by the scheduler: the renewal draft of an offline role about to expire.
    RENEW_OFFLINE = "renew_offline_metadata"


PUBLISH_TASKS = frozenset({TaskName.PUBLISH, TaskName.PUBLISH_LEGACY})

"""Object store for metadata and artifacts (local files or S3 through obstore)."""

from tufsync.storage.objects import (
    ObjectInfo,
    ObjectStore,
    StorageUnavailable,
    open_configured_store,
    open_store,
)

__all__ = ["ObjectInfo", "ObjectStore", "StorageUnavailable", "open_configured_store", "open_store"]

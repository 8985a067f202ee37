"""TUF state store: bootstrap markers, settings, drafts, locks and task records."""

from tufsync.state.base import StateStore
from tufsync.state.factory import open_state_store

__all__ = ["StateStore", "open_state_store"]

"""Checks shared by the TUF routes: the repository exists and is usable.

They belong to the operations (:mod:`tufsync.operations.guards`); the routes
that only read a repository use them from here.
"""

from __future__ import annotations

from tufsync.operations.guards import not_bootstrapped, require_bootstrapped, require_ready

__all__ = ["not_bootstrapped", "require_bootstrapped", "require_ready"]

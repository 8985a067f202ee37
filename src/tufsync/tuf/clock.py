"""An injectable clock, so tests can move time forward."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def expiry_after(now: datetime, days: int) -> datetime:
    """Expiry ``days`` from ``now``, in whole seconds as TUF's ``expires`` requires."""
    return (now + timedelta(days=days)).replace(microsecond=0)

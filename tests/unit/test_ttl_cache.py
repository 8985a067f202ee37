"""The admin cache forgets entries after their time-to-live and never grows unbounded."""

from __future__ import annotations

import time

from tufsync.auth.cache import TTLCache


def test_entries_expire() -> None:
    cache: TTLCache[str] = TTLCache(ttl=1.0)
    cache.put("alice", "A")
    assert cache.get("alice") == "A"
    assert cache.get("bob") is None
    time.sleep(1.2)
    assert cache.get("alice") is None


def test_size_is_bounded() -> None:
    cache: TTLCache[int] = TTLCache(ttl=60, max_entries=3)
    for i in range(3):
        cache.put(str(i), i)
    cache.put("new", 99)
    assert cache.get("new") == 99
    assert sum(cache.get(str(i)) is not None for i in range(3)) == 0

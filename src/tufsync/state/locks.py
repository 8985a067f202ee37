"""Waiting for and holding a state-store lock, with its fencing token.

A lock names the process instance holding it; a waiter that finds it held by
a dead instance (see :mod:`tufsync.state.instances`) takes it over at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from tufsync.state import instances
from tufsync.state.base import StateStore

log = logging.getLogger(__name__)
OWNER_CHECK_INTERVAL = 0.25
# Seconds :func:`hold_lock` waits when its caller names no wait (every task's
# repository lock): a task gives up, and says so, after this long.
DEFAULT_WAIT = 120.0


class LockTimeout(TimeoutError):
    """The lock stayed taken for longer than the caller would wait."""

    def __init__(self, name: str, waited: float) -> None:
        super().__init__(f"timed out after waiting {waited:g}s for lock {name}")
        self.name = name
        self.waited = waited

    @property
    def lock_kind(self) -> str:
        """What the lock serialises, in words (the lock names are built by
        :mod:`tufsync.tenant_keys`; only their last component is read here)."""
        for suffix, words in _LOCK_WORDS:
            if self.name.endswith(suffix):
                return words
        return "a lock"


_LOCK_WORDS = (
    (":signing-lock", "the lock on the app's signing drafts"),
    (":registry-lock", "the lock on the account's artifact files"),
    (":lock", "the repository lock"),
)


class LockNotNeeded(Exception):
    """``hold_lock``'s ``unless`` check found, at the waiter's turn, that the work
    the lock was wanted for is already done; the lock was not taken."""


class LockLost(RuntimeError):
    """The lock expired or was taken over while the holder was still working."""


@dataclass(frozen=True)
class HeldLock:
    store: StateStore
    name: str
    token: int
    ttl: float

    async def ensure_held(self) -> None:
        """Refresh the lock; raise LockLost when the fencing token is no longer current."""
        if not await self.store.extend_lock(self.name, self.token, self.ttl):
            raise LockLost(f"lock {self.name} was lost (token {self.token})")


async def _heartbeat(held: HeldLock, done: asyncio.Event) -> None:
    """Keep extending the lock while its holder works; stop once it is lost or
    ``done`` is set.

    Ending does not rely on cancellation alone: a state-store client may swallow
    a cancellation that arrives during its round trip (the heartbeat then went
    on extending the lock for ever, and its holder's exit waited for it), so
    the loop also stops as soon as it sees ``done``.
    """
    while not done.is_set():
        try:
            await asyncio.wait_for(done.wait(), held.ttl / 3)
            return
        except TimeoutError:
            pass
        if done.is_set() or not await held.store.extend_lock(held.name, held.token, held.ttl):
            return


class _Turnstile:
    """One holder at a time; urgent waiters go before the others, each kind in the
    order it came (a plain FIFO when nobody is urgent)."""

    def __init__(self) -> None:
        self._held = False
        self._waiters: tuple[deque[asyncio.Future[None]], deque[asyncio.Future[None]]] = (
            deque(),
            deque(),
        )

    async def acquire(self, urgent: bool) -> None:
        if not self._held and not any(self._waiters):
            self._held = True
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._waiters[0 if urgent else 1]
        queue.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed the turn as it was cancelled: pass it on
            elif waiter in queue:
                queue.remove(waiter)
            raise

    def release(self) -> None:
        """Hand the turn to the next waiter (urgent first), or free it."""
        for queue in self._waiters:
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    return
        self._held = False


class _LocalQueue:
    """In-process queue in front of a shared lock, so one coroutine per process polls it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[_Turnstile, int]] = {}

    @asynccontextmanager
    async def turn(self, name: str, patience: float, urgent: bool = False) -> AsyncIterator[None]:
        lock, users = self._locks.get(name, (_Turnstile(), 0))
        self._locks[name] = (lock, users + 1)
        try:
            try:
                await asyncio.wait_for(lock.acquire(urgent), patience)
            except TimeoutError:
                raise LockTimeout(name, patience) from None
            try:
                yield
            finally:
                lock.release()
        finally:
            lock, users = self._locks[name]
            if users <= 1:
                del self._locks[name]
            else:
                self._locks[name] = (lock, users - 1)


_local = _LocalQueue()


@asynccontextmanager
async def hold_lock(
    store: StateStore,
    name: str,
    *,
    ttl: float = 15.0,
    wait: float | None = None,
    poll_max: float = 0.05,
    unless: Callable[[], Awaitable[bool]] | None = None,
    urgent: bool = False,
) -> AsyncIterator[HeldLock]:
    """Wait up to ``wait`` seconds (default :data:`DEFAULT_WAIT`) for ``name``;
    hold it for the ``async with`` body; :class:`LockTimeout` when it stays taken.

    Waiters of one process queue in memory first, so only one of them at a time
    polls the state store. The lock is extended in the background every
    ``ttl / 3`` seconds, so a short ``ttl`` only matters when the holder dies:
    then others get it after ``ttl``.

    ``unless`` is asked at the waiter's turn in the in-process queue, before the
    shared lock is taken: True raises :class:`LockNotNeeded` (e.g. a batched task
    that the previous holder already finished), sparing the state-store round
    trips of taking and releasing the lock. It must only answer True for a final
    fact, since it runs without the lock.

    ``urgent`` waiters of this process go before the others in the in-process queue
    (a request is waiting for the task; see :mod:`tufsync.operations.signing`).
    """
    if wait is None:
        wait = DEFAULT_WAIT
    if wait <= 0:
        if unless is not None and await unless():
            raise LockNotNeeded(name)
        async with _hold_shared(store, name, ttl, 0.0, poll_max, wait) as held:
            yield held
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    async with _local.turn(name, wait, urgent):
        if unless is not None and await unless():
            raise LockNotNeeded(name)
        remaining = max(0.0, deadline - loop.time())
        async with _hold_shared(store, name, ttl, remaining, poll_max, wait) as held:
            yield held


@asynccontextmanager
async def _hold_shared(
    store: StateStore, name: str, ttl: float, wait: float, poll_max: float, waited: float
) -> AsyncIterator[HeldLock]:
    """Poll the state store for ``name`` up to ``wait`` seconds, then hold it
    (``waited``: the caller's whole wait, which a LockTimeout reports)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    delay = 0.002
    next_owner_check = loop.time()
    while True:
        token = await store.acquire_lock(name, ttl, instances.PROCESS_ID)
        if token is not None:
            break
        if loop.time() >= next_owner_check:
            next_owner_check = loop.time() + OWNER_CHECK_INTERVAL
            if await _take_over_if_dead(store, name):
                continue
        if loop.time() >= deadline:
            raise LockTimeout(name, max(waited, 0.0))
        await asyncio.sleep(delay)
        delay = min(delay * 2, poll_max)
    held = HeldLock(store, name, token, ttl)
    done = asyncio.Event()
    beat = asyncio.create_task(_heartbeat(held, done))
    try:
        yield held
    finally:
        done.set()
        beat.cancel()
        await asyncio.gather(beat, return_exceptions=True)
        await store.release_lock(name, token)


async def _take_over_if_dead(store: StateStore, name: str) -> bool:
    """Release ``name`` when its owner instance is dead; True when it was released."""
    held = await store.lock_owner(name)
    if held is None:
        return True
    token, owner = held
    if not await instances.is_dead(store, owner):
        return False
    log.warning("lock %s: owner instance %s is dead; taking it over", name, owner)
    await store.release_lock(name, token)
    return True

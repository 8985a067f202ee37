"""Fair dispatch in a scale-out worker: one running turn per repository, round-robin.

All metadata changes of a repository are serialized by its lock (one per
(admin, app), see :mod:`tufsync.state.locks`), so a second task of a
repository that already has a running task could only wait for that lock.
Such tasks wait here, in the repository's in-process queue, without taking
one of the worker's slots; the slots go round-robin to the repositories that
have work and no running turn, so one tenant's backlog never holds up another
tenant's task. A worker therefore runs at most one turn per repository;
several workers may each run one, and all but one of them then wait for the
lock.

A turn is one task, or a run of consecutive publish/removal tasks started
together: those are merged into one metadata write under the lock
(:class:`tufsync.tasks.handlers.TargetsBatchHandler`), as they were when
they waited for the lock side by side.

The automatic refresh (``force_online_metadata_update`` queued by
:mod:`tufsync.tasks.scheduler`) goes first in its repository's queue and may
also use a few reserved slots that tenants' work never takes, so it is never
starved, even when every slot runs another repository's long task. A
finalize task (``sign_metadata``: a request waits for it, see
:mod:`tufsync.operations.signing`) goes next, before the repository's other
queued work, so it waits at most for the turn running now.

A delivery is acknowledged only after its task ended (SUCCESS or FAILURE);
one whose runner failed or was cancelled (shutdown) is not, so it is
delivered again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from tufsync.tasks.kinds import TaskName

log = logging.getLogger(__name__)
BATCHED = frozenset({"add_artifacts", "publish_artifacts", "remove_artifacts"})
REFRESH_TASK = "force_online_metadata_update"
URGENT = frozenset({str(TaskName.FINALIZE_SIGNING)})

Repo = tuple[str, str]
# Seconds a turn keeps its repository's later tasks waiting: past this, a task
# that has not ended (a long bootstrap, or a runner that hangs) no longer holds
# them up; they start, and wait for the repository's lock like any other.
TURN_PATIENCE = 60.0


@dataclass
class Delivery:
    """One delivered task message, held until its task ends."""

    task_id: str
    name: str = ""
    automatic: bool = False
    message_id: str | None = None
    ack: Callable[[], Awaitable[None] | None] | None = None

    async def acknowledge(self) -> None:
        if self.ack is not None:
            done = self.ack()
            if done is not None:
                await done

    @property
    def is_refresh(self) -> bool:
        return self.name == REFRESH_TASK and self.automatic

    @property
    def is_urgent(self) -> bool:
        return self.name in URGENT


@dataclass
class _Turn:
    deliveries: list[Delivery]
    reserved: bool
    task: asyncio.Task[None] | None = None


@dataclass
class _Repo:
    queue: deque[Delivery] = field(default_factory=deque)
    turn: _Turn | None = None


def reserved_slots(slots: int) -> int:
    """Slots kept for the automatic refresh: an eighth of the others, at least 2."""
    return max(2, slots // 8)


class FairDispatcher:
    """Per-repository queues in front of ``slots`` shared slots (plus reserved ones)."""

    def __init__(
        self,
        run: Callable[[str], Awaitable[None]],
        slots: int,
        *,
        reserved: int | None = None,
        batch_limit: int | None = None,
        turn_patience: float = TURN_PATIENCE,
    ) -> None:
        self._run = run
        self.slots = slots
        self.reserved = reserved_slots(slots) if reserved is None else reserved
        self.batch_limit = batch_limit or slots
        self.turn_patience = turn_patience
        self._turns: set[asyncio.Task[None]] = set()
        self._repos: dict[Repo, _Repo] = {}
        self._ready: OrderedDict[Repo, None] = OrderedDict()
        self._held: dict[str, Delivery] = {}
        self._used = 0
        self._used_reserved = 0
        self._waiting = 0
        self._closing = False
        self._changed = asyncio.Event()

    # --- what the worker and its tests look at ---------------------------------

    @property
    def running(self) -> int:
        """Turns running now (each holds one slot)."""
        return self._used + self._used_reserved

    @property
    def waiting(self) -> int:
        """Deliveries queued and not started."""
        return self._waiting

    def held_message_ids(self) -> list[str]:
        """Stream ids of every delivery queued or running here."""
        return list(self._held)

    async def wait_below(self, waiting: int) -> None:
        """Return once fewer than ``waiting`` deliveries wait (intake back-pressure)."""
        while self._waiting >= waiting:
            self._changed.clear()
            await self._changed.wait()

    # --- intake ---------------------------------------------------------------

    def accept(self, repo: Repo, delivery: Delivery) -> bool:
        """Queue ``delivery`` for ``repo``; False when this message is already held."""
        if delivery.message_id is not None:
            if delivery.message_id in self._held:
                return False
            self._held[delivery.message_id] = delivery
        entry = self._repos.setdefault(repo, _Repo())
        if delivery.is_refresh:
            entry.queue.appendleft(delivery)
        elif delivery.is_urgent:
            ahead = 0
            for queued in entry.queue:
                if not (queued.is_refresh or queued.is_urgent):
                    break
                ahead += 1
            entry.queue.insert(ahead, delivery)
        else:
            entry.queue.append(delivery)
        self._waiting += 1
        if entry.turn is None:
            self._ready[repo] = None
        self._pump()
        return True

    # --- turns ----------------------------------------------------------------

    def _pump(self) -> None:
        if self._closing:
            return
        while self._ready and self._used < self.slots:
            repo, _ = self._ready.popitem(last=False)
            self._start(repo, reserved=False)
        if self._used_reserved < self.reserved:
            for repo in [r for r in self._ready if self._repos[r].queue[0].is_refresh]:
                if self._used_reserved >= self.reserved:
                    break
                del self._ready[repo]
                self._start(repo, reserved=True)

    def _take_turn(self, entry: _Repo) -> list[Delivery]:
        first = entry.queue.popleft()
        taken = [first]
        if first.name in BATCHED:
            while entry.queue and entry.queue[0].name in BATCHED:
                if len(taken) >= self.batch_limit:
                    break
                taken.append(entry.queue.popleft())
        return taken

    def _start(self, repo: Repo, *, reserved: bool) -> None:
        entry = self._repos[repo]
        turn = _Turn(self._take_turn(entry), reserved)
        self._waiting -= len(turn.deliveries)
        if reserved:
            self._used_reserved += 1
        else:
            self._used += 1
        entry.turn = turn
        turn.task = asyncio.create_task(self._play(repo, turn))
        self._turns.add(turn.task)
        turn.task.add_done_callback(self._turns.discard)
        self._changed.set()

    async def _play(self, repo: Repo, turn: _Turn) -> None:
        """Run the turn's tasks; free the repository for its next turn when they ended,
        or after ``turn_patience`` seconds (a straggler keeps its slot until it ends)."""
        runs = [asyncio.ensure_future(self._one(d)) for d in turn.deliveries]
        try:
            _, pending = await asyncio.wait(runs, timeout=self.turn_patience)
            self._end_turn(repo)
            if pending:
                log.warning(
                    "%s/%s: %d task(s) still running after %gs; the repository's next "
                    "tasks start meanwhile",
                    repo[0],
                    repo[1],
                    len(pending),
                    self.turn_patience,
                )
                await asyncio.wait(pending)
        finally:
            for run in runs:
                run.cancel()
            if self._repos.get(repo) is not None and self._repos[repo].turn is turn:
                self._end_turn(repo)
            if turn.reserved:
                self._used_reserved -= 1
            else:
                self._used -= 1
            self._changed.set()
            self._pump()

    def _end_turn(self, repo: Repo) -> None:
        """The repository has no running turn any more: its next tasks may start."""
        entry = self._repos[repo]
        entry.turn = None
        if entry.queue:
            self._ready[repo] = None
        else:
            del self._repos[repo]
        self._pump()

    async def _one(self, delivery: Delivery) -> None:
        """Run one task, then acknowledge its message. When the runner itself failed
        (e.g. the state store was unreachable) the message is left unacknowledged and
        no longer kept claimed, so it is redelivered; when cancelled (shutdown), too."""
        try:
            await self._run(delivery.task_id)
        except Exception:
            log.exception("task %s: runner failed; to be delivered again", delivery.task_id)
        else:
            try:
                await delivery.acknowledge()
            except Exception:
                log.exception("task %s: could not acknowledge its message", delivery.task_id)
        if delivery.message_id is not None:
            self._held.pop(delivery.message_id, None)

    async def cancel(self) -> None:
        """Stop every running turn; their messages stay unacknowledged."""
        self._closing = True
        tasks = list(self._turns)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

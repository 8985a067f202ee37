"""The task queue on taskiq: in-memory broker in embedded mode, Redis in scale-out.

The queue carries only task ids; parameters and results live in the task
records, so any worker can run any task and a restart can resume them. A
scale-out worker reads the stream (:mod:`tufsync.tasks.stream`) and hands each
task to its repository's queue in :mod:`tufsync.tasks.dispatch`, which shares
the worker's slots fairly between repositories.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from taskiq import AsyncBroker, Context, InMemoryBroker, TaskiqDepends

from tufsync.settings import Settings
from tufsync.tasks.contract import RunnerContext
from tufsync.tasks.dispatch import Delivery, FairDispatcher
from tufsync.tasks.records import FAILURE, PENDING, STARTED, SUCCESS
from tufsync.tasks.stream import StreamMessage, resilient_stream_broker

log = logging.getLogger(__name__)
TASK_NAME = "tufsync.run_task"
QUEUE_NAME = "tufsync:tasks"
GROUP_NAME = "tufsync-workers"
# Deliveries a worker holds before it stops reading the stream: enough that a flood
# of one repository's tasks never keeps another repository's task in the stream.
MAX_WAITING = 4096


async def _run(task_id: str, context: Context = TaskiqDepends()) -> None:
    from tufsync.tasks.runner import run_task

    await run_task(context.state.services, task_id)


async def _drop(delivery: Delivery) -> None:
    """Acknowledge a message there is nothing to run for; if that fails, its
    redelivery is dropped the same way."""
    try:
        await delivery.acknowledge()
    except Exception:
        log.exception("could not acknowledge the message of task %r", delivery.task_id)


def _claim_interval(settings: Settings) -> float:
    """Seconds between scans for unacknowledged messages: a third of the redelivery
    time (so redelivery comes at most a third late), at least 0.5 s, at most 5 s."""
    return min(5.0, max(0.5, settings.task_redelivery_seconds / 3))


def make_broker(settings: Settings) -> AsyncBroker:
    """In-memory broker (embedded) or a Redis stream with acknowledged delivery.

    With the stream, a message is acknowledged only after its task ran; a
    message whose worker died is claimed again by another worker once it has
    been idle for ``task_redelivery_seconds``.
    """
    if settings.redis_url:
        broker: AsyncBroker = resilient_stream_broker()(
            settings.redis_url,
            queue_name=QUEUE_NAME,
            consumer_group_name=GROUP_NAME,
            consumer_id="0",
            idle_timeout=int(settings.task_redelivery_seconds * 1000),
            unacknowledged_lock_timeout=settings.task_redelivery_seconds,
            xread_block=int(_claim_interval(settings) * 1000),
        )
        broker.claim_interval = _claim_interval(settings)  # type: ignore[attr-defined]
        return broker
    return InMemoryBroker(max_async_tasks=256, propagate_exceptions=False)


class TaskQueue:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.broker: AsyncBroker = make_broker(settings)
        self._task: Any = self.broker.register_task(_run, task_name=TASK_NAME)
        self.dispatcher: FairDispatcher | None = None

    async def start(self, services: RunnerContext, *, embedded_worker: bool) -> None:
        self.broker.state.services = services
        if embedded_worker:
            self.broker.is_worker_process = True
        await self.broker.startup()
        if embedded_worker and isinstance(self.broker, InMemoryBroker):
            await self.resume_unfinished(services)

    async def run_worker(self) -> None:
        """Consume tasks from the stream until cancelled (``tufsync worker``), each
        repository in its turn (see :mod:`tufsync.tasks.dispatch`)."""
        from tufsync.tasks.runner import run_task

        services: RunnerContext = self.broker.state.services
        dispatcher = FairDispatcher(
            lambda task_id: run_task(services, task_id), self.settings.worker_concurrency
        )
        self.dispatcher = dispatcher
        toucher = asyncio.create_task(self._keep_claimed(dispatcher))
        try:
            async for message in self.broker.listen():
                await self._intake(services, dispatcher, message)
                await dispatcher.wait_below(MAX_WAITING)
        finally:
            toucher.cancel()
            await asyncio.gather(toucher, return_exceptions=True)
            await dispatcher.cancel()

    async def _intake(
        self, services: RunnerContext, dispatcher: FairDispatcher, message: Any
    ) -> None:
        """Read which repository the message's task works on and queue it there;
        acknowledge at once a message that names no task to run."""
        ack = message.ack if isinstance(message, StreamMessage) else None
        message_id = message.message_id if isinstance(message, StreamMessage) else None
        task_id = self._task_id(message.data if isinstance(message, StreamMessage) else message)
        if task_id is None:
            await _drop(Delivery("", ack=ack))
            return
        try:
            record = await services.records.get(task_id)
        except Exception:  # the state store failed: the runner will read it again
            log.exception("task %s: could not read its record before dispatch", task_id)
            dispatcher.accept(("", task_id), Delivery(task_id, "", False, message_id, ack))
            return
        if record is None or record.state in (SUCCESS, FAILURE):
            await _drop(Delivery(task_id, ack=ack))
            return
        automatic = bool(record.params.get("automatic"))
        delivery = Delivery(task_id, record.name, automatic, message_id, ack)
        dispatcher.accept((record.admin, record.app), delivery)

    def _task_id(self, data: bytes) -> str | None:
        """The task id a queue message carries, or None (logged) when it carries none."""
        try:
            message = self.broker.formatter.loads(data)
        except ValueError as exc:
            log.warning("dropping an unreadable task message: %s", exc)
            return None
        if message.task_name != TASK_NAME or len(message.args) != 1:
            log.warning("dropping a message of unknown task %r", message.task_name)
            return None
        task_id = message.args[0]
        return task_id if isinstance(task_id, str) else None

    async def _keep_claimed(self, dispatcher: FairDispatcher) -> None:
        """Every third of the redelivery time, claim again every message held here, so
        that only the messages of a worker that stopped are redelivered."""
        every = self.settings.task_redelivery_seconds / 3
        while True:
            await asyncio.sleep(every)
            held = dispatcher.held_message_ids()
            if not held:
                continue
            try:
                await self.broker.touch(held)  # type: ignore[attr-defined]
            except Exception:
                log.exception("could not keep this worker's task messages claimed")

    async def resume_unfinished(self, services: RunnerContext) -> None:
        """Re-dispatch tasks that were accepted but never finished (e.g. after a crash)."""
        for record in await services.records.unfinished():
            if record.state == STARTED:
                record.state = PENDING
                await services.records.save(record)
            log.info("resuming task %s (%s)", record.task_id, record.name)
            await self.submit(record.task_id)

    async def submit(self, task_id: str) -> None:
        await self._task.kiq(task_id)

    async def depth(self) -> int:
        """Tasks handed to the queue and not yet finished: running ones in embedded
        mode; in scale-out, messages of the stream not yet delivered or not yet
        acknowledged by a worker."""
        if isinstance(self.broker, InMemoryBroker):
            return len(self.broker._running_tasks)
        from redis.asyncio import Redis
        from redis.exceptions import ResponseError

        async with Redis(connection_pool=self.broker.connection_pool) as conn:  # type: ignore[attr-defined]
            try:
                groups = await conn.xinfo_groups(QUEUE_NAME)
            except ResponseError:  # no stream yet: nothing was ever queued
                return 0
            for group in groups:
                name = group.get("name")
                if name in (GROUP_NAME, GROUP_NAME.encode()):
                    return int(group.get("pending") or 0) + int(group.get("lag") or 0)
            return int(await conn.xlen(QUEUE_NAME))

    async def wait_idle(self) -> None:
        if isinstance(self.broker, InMemoryBroker):
            await self.broker.wait_all()

    async def stop(self) -> None:
        await self.broker.shutdown()

"""The task queue on taskiq: in-memory broker in embedded mode, Redis in scale-out.

The queue carries only task ids; parameters and results live in the task
records, so any worker can run any task and a restart can resume them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from typing import Any

from taskiq import AsyncBroker, Context, InMemoryBroker, TaskiqDepends

from tufsync.settings import Settings
from tufsync.tasks.contract import RunnerContext
from tufsync.tasks.records import PENDING, STARTED

log = logging.getLogger(__name__)
TASK_NAME = "tufsync.run_task"
QUEUE_NAME = "tufsync:tasks"
GROUP_NAME = "tufsync-workers"


async def _run(task_id: str, context: Context = TaskiqDepends()) -> None:
    from tufsync.tasks.runner import run_task

    await run_task(context.state.services, task_id)


def _resilient_stream_broker() -> type[Any]:
    from redis.asyncio import Redis
    from redis.exceptions import ResponseError
    from taskiq import AckableMessage
    from taskiq_redis import RedisStreamBroker

    class ResilientStreamBroker(RedisStreamBroker):
        """A stream broker that survives the loss of its stream (e.g. Redis data loss)
        and reclaims the messages of dead workers even when no new message arrives.

        The consumer group reads from the start of the stream, so messages
        added before the group existed are not skipped. taskiq-redis only looks
        for unacknowledged messages after reading new ones; here XAUTOCLAIM of
        messages idle for ``idle_timeout`` ms runs every ``claim_interval``
        seconds (a read blocks at most that long), whether or not new messages
        came, so a killed worker's tasks are redelivered at most
        ``idle_timeout`` + ``claim_interval`` after their last delivery. Claiming
        after every read, as before, cost a round trip per message batch under
        load and found nothing: no message of a live worker is ever that idle.
        """

        claim_interval: float = 1.0

        async def listen(self) -> AsyncGenerator[Any, None]:
            while True:
                try:
                    async for message in self._listen_and_reclaim():
                        yield message
                except ResponseError as exc:
                    if "NOGROUP" not in str(exc):
                        raise
                    log.warning("task stream or consumer group lost; declaring it again")
                    await self._declare_consumer_group()

        async def _listen_and_reclaim(self) -> AsyncGenerator[Any, None]:
            async with Redis(connection_pool=self.connection_pool) as conn:
                loop = asyncio.get_running_loop()
                next_claim = loop.time()
                while True:
                    if loop.time() >= next_claim:
                        next_claim = loop.time() + self.claim_interval
                        async for message in self._reclaim(conn):
                            yield message
                    wait_ms = max(1, int((next_claim - loop.time()) * 1000))
                    fetched: Any = await conn.xreadgroup(
                        self.consumer_group_name,
                        self.consumer_name,
                        {self.queue_name: ">"},
                        block=min(self.block, wait_ms),
                        noack=False,
                        count=self.count,
                    )
                    for stream, messages in fetched or []:
                        for msg_id, msg in messages:
                            yield AckableMessage(
                                data=msg[b"data"],
                                ack=self._ack_generator(id=msg_id, queue_name=stream),
                            )

        async def _reclaim(self, conn: Redis) -> AsyncGenerator[Any, None]:
            """Claim the messages no worker acknowledged within ``idle_timeout`` ms."""
            claimed: Any = await conn.xautoclaim(
                name=self.queue_name,
                groupname=self.consumer_group_name,
                consumername=self.consumer_name,
                min_idle_time=self.idle_timeout,
                count=self.unacknowledged_batch_size,
            )
            for msg_id, msg in claimed[1]:
                if msg is None:  # deleted from the stream meanwhile
                    continue
                log.info("redelivering task message %s (its worker went silent)", msg_id)
                yield AckableMessage(
                    data=msg[b"data"],
                    ack=self._ack_generator(id=msg_id, queue_name=self.queue_name),
                )

    return ResilientStreamBroker


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
        broker: AsyncBroker = _resilient_stream_broker()(
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

    async def start(self, services: RunnerContext, *, embedded_worker: bool) -> None:
        self.broker.state.services = services
        if embedded_worker:
            self.broker.is_worker_process = True
        await self.broker.startup()
        if embedded_worker and isinstance(self.broker, InMemoryBroker):
            await self.resume_unfinished(services)

    async def run_worker(self) -> None:
        """Consume tasks from the broker until cancelled (``tufsync worker``)."""
        from taskiq.api import run_receiver_task

        await run_receiver_task(
            self.broker,
            max_async_tasks=self.settings.worker_concurrency,
            propagate_exceptions=False,
        )

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

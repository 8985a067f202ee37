"""The scale-out task stream on a real Redis: a dead consumer's message is redelivered
without waiting for new traffic, the stream survives its loss, and the messages a
live worker holds are never redelivered."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tufsync.settings import Settings
from tufsync.tasks.queue import GROUP_NAME, QUEUE_NAME, TaskQueue
from tufsync.tasks.stream import StreamMessage, resilient_stream_broker

REDELIVERY = 1.0


@pytest.fixture
async def queues(tmp_path: Path, redis_db: str) -> AsyncIterator[list[TaskQueue]]:
    settings = Settings(data_dir=tmp_path, redis_url=redis_db, task_redelivery_seconds=REDELIVERY)
    made = [TaskQueue(settings) for _ in range(2)]  # two consumers (workers)
    for queue in made:
        await queue.broker.startup()
    yield made
    for queue in made:
        await queue.stop()


async def first_message(queue: TaskQueue, within: float) -> StreamMessage:
    listening = queue.broker.listen()
    try:
        message: Any = await asyncio.wait_for(anext(listening), within)
        assert isinstance(message, StreamMessage)
        return message
    finally:
        await listening.aclose()


async def test_a_dead_consumers_message_is_redelivered_without_new_messages(
    queues: list[TaskQueue],
) -> None:
    dead, live = queues
    await dead.submit("task-1")
    taken = await first_message(dead, 5)
    assert dead._task_id(taken.data) == "task-1"
    # The consumer that took it never acknowledges it (killed); nothing else is queued.
    again = await first_message(live, 3 * REDELIVERY + 2)
    assert again.message_id == taken.message_id
    await again.ack()
    redelivered = asyncio.ensure_future(first_message(dead, 3 * REDELIVERY))
    with pytest.raises(TimeoutError):
        await redelivered  # acknowledged: never delivered again


async def test_the_stream_survives_its_loss(queues: list[TaskQueue], redis_db: str) -> None:
    queue = queues[0]
    listening = queue.broker.listen()
    reading = asyncio.ensure_future(anext(listening))
    await asyncio.sleep(0.3)  # blocked in its read
    redis.Redis.from_url(redis_db).flushdb()  # stream and consumer group gone
    await asyncio.sleep(0.3)
    await queue.submit("after-loss")
    try:
        message = await asyncio.wait_for(reading, 10)
        assert queue._task_id(message.data) == "after-loss"
    finally:
        await listening.aclose()


async def test_held_messages_of_a_live_worker_are_not_redelivered(
    queues: list[TaskQueue],
) -> None:
    holder, other = queues
    await holder.submit("long-task")
    held = await first_message(holder, 5)

    async def keep_claimed() -> None:
        while True:
            await asyncio.sleep(REDELIVERY / 3)
            await holder.broker.touch([held.message_id])  # type: ignore[attr-defined]

    toucher = asyncio.ensure_future(keep_claimed())
    try:
        with pytest.raises(TimeoutError):
            await first_message(other, 4 * REDELIVERY)
    finally:
        toucher.cancel()
    # The holder stops (dies): now the message goes to the other worker.
    again = await first_message(other, 3 * REDELIVERY + 2)
    assert again.message_id == held.message_id


async def test_reading_goes_on_after_redis_read_timeouts(tmp_path: Path, redis_db: str) -> None:
    """Every blocking read outlasts the socket timeout (as when Redis stalls for
    longer than redis-py's 5 s): the broker keeps reading and delivers the task."""
    settings = Settings(data_dir=tmp_path, redis_url=redis_db, task_redelivery_seconds=3.0)
    queue = TaskQueue(settings)
    stalled = resilient_stream_broker()(
        redis_db,
        queue_name=QUEUE_NAME,
        consumer_group_name=GROUP_NAME,
        consumer_id="0",
        xread_block=1000,
        socket_timeout=0.2,
    )
    stalled.retry_delay = 0.1
    await queue.broker.startup()
    await stalled.startup()
    listening = stalled.listen()
    try:
        reading = asyncio.ensure_future(anext(listening))
        await asyncio.sleep(1.0)  # several reads timed out by now
        await queue.submit("after-timeouts")
        message = await asyncio.wait_for(reading, 10)
        assert queue._task_id(message.data) == "after-timeouts"
    finally:
        await listening.aclose()
        await stalled.shutdown()
        await queue.stop()


async def test_a_dead_consumers_message_behind_many_held_ones_is_redelivered(
    tmp_path: Path, redis_db: str
) -> None:
    """XAUTOCLAIM scans at most ten times its count of pending entries per call; the
    scan goes on where it stopped, so 30 messages held by a live worker (kept claimed)
    never hide a dead worker's message behind them (here: count 2, 20 per call)."""

    def broker() -> Any:
        made = resilient_stream_broker()(
            redis_db,
            queue_name=QUEUE_NAME,
            consumer_group_name=GROUP_NAME,
            consumer_id="0",
            idle_timeout=int(REDELIVERY * 1000),
            xread_block=300,
            unacknowledged_batch_size=2,
        )
        made.claim_interval = 0.3
        return made

    queue = TaskQueue(Settings(data_dir=tmp_path, redis_url=redis_db))
    live, dead = broker(), broker()
    await queue.broker.startup()
    await live.startup()
    await dead.startup()
    for i in range(30):
        await queue.submit(f"held-{i}")
    held: list[str] = []
    live_reading = live.listen()
    while len(held) < 30:
        held.append((await asyncio.wait_for(anext(live_reading), 5)).message_id)
    await live_reading.aclose()
    await queue.submit("orphan")
    dead_reading = dead.listen()
    orphan = await asyncio.wait_for(anext(dead_reading), 5)
    await dead_reading.aclose()  # the dead worker never acknowledges it

    async def keep_claimed() -> None:
        while True:
            await live.touch(held)
            await asyncio.sleep(REDELIVERY / 4)

    toucher = asyncio.ensure_future(keep_claimed())
    other = live.listen()
    try:
        message = await asyncio.wait_for(anext(other), 10 * REDELIVERY)
        assert message.message_id == orphan.message_id
    finally:
        toucher.cancel()
        await other.aclose()
        for made in (live, dead):
            await made.shutdown()
        await queue.stop()

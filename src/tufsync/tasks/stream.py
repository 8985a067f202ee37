"""The Redis stream behind the scale-out queue: delivery, redelivery, acknowledgement.

Messages are read through a consumer group and acknowledged only after their
task ended, so a worker that dies leaves its messages pending in the group.
Another worker claims them once they have been idle for ``idle_timeout`` ms.
A live worker keeps the messages it holds (running, or waiting for their
repository's turn, see :mod:`tufsync.tasks.dispatch`) from looking idle by
claiming them for itself again every third of that time (:meth:`touch`), so
only a dead worker's messages are ever redelivered. A lost or stalled
connection, or a lost stream, never stops the reading.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from taskiq import AckableMessage

log = logging.getLogger(__name__)
TOUCH_CHUNK = 500


class StreamMessage(AckableMessage):
    """A delivered message and its entry id in the stream."""

    message_id: str


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def resilient_stream_broker() -> type[Any]:
    """The broker class (imported lazily: Redis is only needed in scale-out)."""
    from redis import exceptions as redis_errors
    from redis.asyncio import Redis
    from redis.exceptions import ResponseError
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
        ``idle_timeout`` + ``claim_interval`` after their last delivery.
        """

        claim_interval: float = 1.0
        retry_delay: float = 1.0
        claim_cursor: str = "0-0"

        async def listen(self) -> AsyncGenerator[Any, None]:
            while True:
                try:
                    async for message in self._listen_and_reclaim():
                        yield message
                except (redis_errors.ConnectionError, redis_errors.TimeoutError) as exc:
                    # Redis restarting, or stalled past the socket timeout (redis-py's
                    # default is 5 s): read again rather than stop taking tasks.
                    log.warning("task stream unreachable (%s); reading again", exc)
                    await asyncio.sleep(self.retry_delay)
                except ResponseError as exc:
                    # NOGROUP: read after the loss; UNBLOCKED: reading while it happened.
                    if not str(exc).startswith(("NOGROUP", "UNBLOCKED")):
                        raise
                    log.warning("task stream or consumer group lost; declaring it again")
                    await self._declare_consumer_group()

        def _message(self, msg_id: Any, msg: Any) -> StreamMessage:
            message_id = _text(msg_id)
            return StreamMessage(
                data=msg[b"data"], ack=self.acknowledger(message_id), message_id=message_id
            )

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
                    for _stream, messages in fetched or []:
                        for msg_id, msg in messages:
                            yield self._message(msg_id, msg)

        async def _reclaim(self, conn: Redis) -> AsyncGenerator[Any, None]:
            """Claim the messages no worker acknowledged within ``idle_timeout`` ms."""
            # One call scans at most 10 * count pending entries (Redis' XAUTOCLAIM):
            # the next call goes on from where this one stopped, so a dead worker's
            # messages behind many held by live workers are found too.
            claimed: Any = await conn.xautoclaim(
                name=self.queue_name,
                groupname=self.consumer_group_name,
                consumername=self.consumer_name,
                min_idle_time=self.idle_timeout,
                count=self.unacknowledged_batch_size,
                start_id=self.claim_cursor,
            )
            self.claim_cursor = _text(claimed[0])
            for msg_id, msg in claimed[1]:
                if msg is None:  # deleted from the stream meanwhile
                    continue
                log.info("redelivering task message %s (its worker went silent)", msg_id)
                yield self._message(msg_id, msg)

        def acknowledger(self, message_id: str) -> Callable[[], Awaitable[None]]:
            """The ``ack`` of a delivered message: XACK, once its task ended."""

            async def ack() -> None:
                async with Redis(connection_pool=self.connection_pool) as conn:
                    await conn.xack(self.queue_name, self.consumer_group_name, message_id)

            return ack

        async def touch(self, message_ids: list[str]) -> None:
            """Claim ``message_ids`` for this consumer again, which resets their idle
            time: messages a live worker holds are never redelivered."""
            async with Redis(connection_pool=self.connection_pool) as conn:
                for start in range(0, len(message_ids), TOUCH_CHUNK):
                    try:
                        await conn.xclaim(
                            self.queue_name,
                            self.consumer_group_name,
                            self.consumer_name,
                            min_idle_time=0,
                            message_ids=list[Any](message_ids[start : start + TOUCH_CHUNK]),
                            justid=True,
                        )
                    except ResponseError as exc:  # stream lost: listen() declares it again
                        log.warning("could not keep task messages claimed: %s", exc)
                        return

    return ResilientStreamBroker

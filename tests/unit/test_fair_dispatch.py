"""The worker's fair dispatcher: one turn per repository, round-robin slots, a
refresh never starved, publishes of a turn started together, acks after the end."""

from __future__ import annotations

import asyncio

from tufsync.tasks.dispatch import REFRESH_TASK, Delivery, FairDispatcher


class Runs:
    """A fake runner: each task waits until the test releases it."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.gates: dict[str, asyncio.Event] = {}
        self.acked: list[str] = []

    async def run(self, task_id: str) -> None:
        self.started.append(task_id)
        await self.gate(task_id).wait()

    def gate(self, task_id: str) -> asyncio.Event:
        return self.gates.setdefault(task_id, asyncio.Event())

    def delivery(self, task_id: str, name: str = "metadata_update", **kw: bool) -> Delivery:
        async def ack() -> None:
            self.acked.append(task_id)

        return Delivery(task_id, name, kw.get("automatic", False), f"m-{task_id}", ack)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_repository_backlog_takes_one_slot() -> None:
    runs = Runs()
    dispatcher = FairDispatcher(runs.run, slots=2, reserved=0)
    for i in range(10):
        dispatcher.accept(("a", "app"), runs.delivery(f"a{i}"))
    dispatcher.accept(("b", "app"), runs.delivery("b0"))
    await settle()
    assert runs.started == ["a0", "b0"]  # B runs at once; A's backlog waits off-slot
    assert dispatcher.running == 2 and dispatcher.waiting == 9
    runs.gate("a0").set()
    await settle()
    assert runs.started == ["a0", "b0", "a1"]
    assert runs.acked == ["a0"]  # acknowledged once its task ended
    await dispatcher.cancel()


async def test_slots_go_round_robin_between_repositories() -> None:
    runs = Runs()
    dispatcher = FairDispatcher(runs.run, slots=1, reserved=0)
    for i in range(3):
        dispatcher.accept(("a", "app"), runs.delivery(f"a{i}"))
    for i in range(3):
        dispatcher.accept(("b", "app"), runs.delivery(f"b{i}"))
    for _ in range(6):
        await settle()
        runs.gate(runs.started[-1]).set()
    await settle()
    assert runs.started == ["a0", "b0", "a1", "b1", "a2", "b2"]
    assert sorted(runs.acked) == sorted(runs.started)


async def test_the_automatic_refresh_has_reserved_slots_and_goes_first() -> None:
    runs = Runs()
    dispatcher = FairDispatcher(runs.run, slots=2, reserved=1)
    dispatcher.accept(("a", "one"), runs.delivery("a"))
    dispatcher.accept(("b", "two"), runs.delivery("b"))
    dispatcher.accept(("c", "three"), runs.delivery("c"))
    dispatcher.accept(("c", "three"), runs.delivery("forced", REFRESH_TASK))
    dispatcher.accept(("d", "four"), runs.delivery("refresh-d", REFRESH_TASK, automatic=True))
    dispatcher.accept(("a", "one"), runs.delivery("a2"))
    dispatcher.accept(("a", "one"), runs.delivery("refresh-a", REFRESH_TASK, automatic=True))
    await settle()
    # Every shared slot runs a long task; the refresh of d runs in the reserved one,
    # while a tenant's forced update (not automatic) waits for a shared slot.
    assert runs.started == ["a", "b", "refresh-d"]
    runs.gate("a").set()
    await settle()
    assert runs.started[-1] == "c"  # round-robin: c had waited longest
    runs.gate("c").set()
    await settle()
    assert runs.started[-1] == "refresh-a"  # first in its repository's queue
    await dispatcher.cancel()
    assert "forced" not in runs.acked and "refresh-a" not in runs.acked


async def test_publishes_of_a_turn_start_together_and_duplicates_are_dropped() -> None:
    runs = Runs()
    dispatcher = FairDispatcher(runs.run, slots=1, reserved=0, batch_limit=3)
    dispatcher.accept(("a", "app"), runs.delivery("update"))
    for i in range(4):
        dispatcher.accept(("a", "app"), runs.delivery(f"p{i}", "add_artifacts"))
    assert not dispatcher.accept(("a", "app"), runs.delivery("p0", "add_artifacts"))
    await settle()
    assert runs.started == ["update"]
    runs.gate("update").set()
    await settle()
    assert runs.started == ["update", "p0", "p1", "p2"]  # one turn, one slot
    assert dispatcher.running == 1
    assert sorted(dispatcher.held_message_ids()) == ["m-p0", "m-p1", "m-p2", "m-p3"]
    for task_id in ("p0", "p1", "p2"):
        runs.gate(task_id).set()
    await settle()
    assert runs.started[-1] == "p3"
    await dispatcher.cancel()


async def test_a_failing_runner_frees_the_slot_and_leaves_the_message_for_redelivery() -> None:
    acked: list[str] = []

    async def run(task_id: str) -> None:
        raise RuntimeError("state store down")

    async def ack() -> None:
        acked.append("x")

    dispatcher = FairDispatcher(run, slots=1, reserved=0)
    dispatcher.accept(("a", "app"), Delivery("x", "metadata_update", False, "m-x", ack))
    await settle()
    assert acked == [] and dispatcher.running == 0 and dispatcher.held_message_ids() == []


async def test_a_task_that_does_not_end_holds_up_its_repository_only_for_a_while() -> None:
    runs = Runs()
    dispatcher = FairDispatcher(runs.run, slots=2, reserved=0, turn_patience=0.2)
    dispatcher.accept(("a", "app"), runs.delivery("hangs"))
    dispatcher.accept(("a", "app"), runs.delivery("next"))
    await settle()
    assert runs.started == ["hangs"]
    await asyncio.sleep(0.3)
    assert runs.started == ["hangs", "next"]  # the repository's queue moves on
    assert dispatcher.running == 2  # the straggler keeps its slot until it ends
    runs.gate("next").set()
    runs.gate("hangs").set()
    await settle()
    assert sorted(runs.acked) == ["hangs", "next"] and dispatcher.running == 0


async def test_a_finalize_task_goes_before_its_repository_backlog() -> None:
    # A request waits for the finalize task (sign_metadata): it runs right after the
    # turn running now, behind a queued refresh, ahead of the queued publishes.
    runs = Runs()
    dispatcher = FairDispatcher(runs.run, slots=1, reserved=0, batch_limit=2)
    dispatcher.accept(("a", "app"), runs.delivery("running"))
    for i in range(6):
        dispatcher.accept(("a", "app"), runs.delivery(f"p{i}", "add_artifacts"))
    dispatcher.accept(("a", "app"), runs.delivery("refresh", REFRESH_TASK, automatic=True))
    dispatcher.accept(("a", "app"), runs.delivery("sign1", "sign_metadata"))
    dispatcher.accept(("a", "app"), runs.delivery("sign2", "sign_metadata"))
    await settle()
    assert runs.started == ["running"]
    for expected in (["refresh"], ["sign1"], ["sign2"], ["p0", "p1"]):
        runs.gate(runs.started[-1]).set()
        for task_id in runs.started:
            runs.gate(task_id).set()
        before = len(runs.started)
        await settle()
        assert runs.started[before:] == expected
    await dispatcher.cancel()

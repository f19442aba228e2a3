"""Flights: a request task, made with asyncio.Task under one name, gives back
its slot and its client's budget once, however it ends (its done callback)."""

from __future__ import annotations

import asyncio
from typing import Any

from radmfa.service.fairness import Admission, FairShare
from radmfa.service.flights import TASK_NAME, Flight, Flights


class _CountingShare(FairShare[str]):
    """Counts the leaves, to show each request gives back its share once."""

    __slots__ = ("leaves",)

    def __init__(self, slots: int, client_limit: int) -> None:
        super().__init__(slots, client_limit)
        self.leaves = 0

    def release(self, client: str) -> str | None:
        self.leaves += 1
        return super().release(client)


def _flights(run: Any, slots: int = 4) -> tuple[Flights[str], _CountingShare]:
    share = _CountingShare(slots, 100)
    return Flights(share, run, lambda job: "nas", lambda: 30.0), share


def _offer(flights: Flights[str], share: _CountingShare, job: str) -> None:
    if share.offer("nas", job) is Admission.RUN:
        flights.start(job)


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_a_decided_task_is_named_and_gives_back_its_share_once() -> None:
    async def run(job: str, flight: Flight) -> None:
        await asyncio.sleep(0)
        flights.leave(flight)  # decided, as the listener does before its reply

    flights, share = _flights(run)
    _offer(flights, share, "a")
    (task,) = flights.tasks
    assert task.get_name() == TASK_NAME and task.get_loop() is asyncio.get_running_loop()
    await _settle()
    assert task.done() and not flights.tasks
    assert share.leaves == 1 and share.active == 0 and share.admitted == {}


async def test_a_task_without_a_decision_gives_back_its_share_in_its_callback() -> None:
    async def run(job: str, flight: Flight) -> None:
        await asyncio.sleep(0)
        if job == "boom":
            raise RuntimeError("no decision")
        # "drop": returns without a decision (leave() not called)

    flights, share = _flights(run)
    _offer(flights, share, "boom")
    _offer(flights, share, "drop")
    await _settle()
    assert not flights.tasks and share.leaves == 2 and share.active == 0 and share.admitted == {}


async def test_a_task_cancelled_before_its_first_step_still_gives_back_its_share() -> None:
    started: list[str] = []

    async def run(job: str, flight: Flight) -> None:
        started.append(job)

    flights, share = _flights(run)
    _offer(flights, share, "a")
    (task,) = flights.tasks
    task.cancel()
    await _settle()
    assert started == [] and task.cancelled()
    assert not flights.tasks and share.leaves == 1 and share.active == 0


async def test_a_slot_given_back_starts_the_next_waiting_request() -> None:
    order: list[str] = []

    async def run(job: str, flight: Flight) -> None:
        await asyncio.sleep(0)
        order.append(job)
        flights.leave(flight)

    flights, share = _flights(run, slots=1)
    for job in ("a", "b", "c"):
        _offer(flights, share, job)
    await _settle()
    assert order == ["a", "b", "c"]
    assert not flights.tasks and share.leaves == 3 and share.active == 0 and share.admitted == {}

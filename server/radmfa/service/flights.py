"""The requests in flight in one worker: a task each, with a deadline and a
place in the fair share (fairness.py: a worker slot and its client's budget).

* The watchdog cancels a request past its deadline ([radius]
  request_timeout_s: a hung store or peer). One sweep a second over the
  requests in flight: an asyncio.timeout() around every request cost a timer
  per request, a tenth of a login.
* A request held for a call or push waits for a person, not for the worker:
  it moves its own deadline through the ``Flight`` it was given (the core's
  Deadline port) and gives back its slot and budget.
* A slot given back starts the next client's waiting request in it.
* ``drain`` waits for all of them at shutdown.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

from radmfa.service.fairness import FairShare

J = TypeVar("J")
TASK_NAME = "radius request"  # every request task's name (asyncio's default is formatted per task)
_Task = asyncio.Task


class Flight:
    """One request task: its client, its deadline, and whether it still holds
    its fair share. Handed down the pipeline as the request's Deadline."""

    __slots__ = ("client", "deadline", "in_share", "_flights")

    def __init__(self, client: str, deadline: float, flights: Flights[Any]) -> None:
        self.client = client
        self.deadline = deadline  # monotonic; the watchdog cancels the task after it
        self.in_share = True  # holds a max_active slot and a place in its client's budget
        self._flights = flights  # not a bound method of it: one object fewer per request

    def extend(self, seconds: float) -> None:
        self.deadline = max(self.deadline, time.monotonic() + seconds)
        self._flights.leave(self)


class Flights(Generic[J]):
    def __init__(
        self,
        share: FairShare[J],
        run: Callable[[J, Flight], Coroutine[Any, Any, None]],
        client_of: Callable[[J], str],
        timeout_s: Callable[[], float],
    ) -> None:
        """``run`` makes a job's coroutine, given the job's Flight; ``timeout_s`` is read at each start
        (request_timeout_s as configured now)."""
        self.share, self._run, self._client_of, self._timeout_s = share, run, client_of, timeout_s
        self.tasks: dict[asyncio.Task[None], Flight] = {}
        self._overdue: set[asyncio.Task[None]] = set()
        self._finished_cb = self._finished  # one bound method, not one per request

    def __len__(self) -> int:
        return len(self.tasks)

    def start(self, job: J, client: str | None = None, deadline: float | None = None) -> None:
        """``client`` and ``deadline``: the job's client and its deadline
        (monotonic: the time it came in plus the timeout now), when the
        caller has them at hand (else asked of ``client_of``, and the clock
        and ``timeout_s``): every request starts here."""
        flight = Flight(
            self._client_of(job) if client is None else client,
            time.monotonic() + self._timeout_s() if deadline is None else deadline,
            self,
        )
        # The Task made directly, named: the loop's create_task names it
        # "Task-<n>" (a string formatted per request) and renames it when asked.
        task = _Task(self._run(job, flight), loop=asyncio.get_running_loop(), name=TASK_NAME)
        self.tasks[task] = flight
        task.add_done_callback(self._finished_cb)

    def timed_out(self, task: asyncio.Task[Any]) -> bool:
        """Was ``task`` cancelled by the watchdog (not by shutdown)?"""
        return task in self._overdue

    def leave(self, flight: Flight) -> None:
        """``flight`` needs no slot any more (its answer is decided, or it
        waits for a person): the slot goes to the next waiting request."""
        if flight.in_share:
            flight.in_share = False
            job = self.share.release(flight.client)
            if job is not None:
                self.start(job)

    def _finished(self, task: asyncio.Task[None]) -> None:
        flight = self.tasks.pop(task, None)
        if flight is not None and flight.in_share:
            self.leave(flight)  # a task that ended without a decision (dropped, shut down)
        if self._overdue:
            self._overdue.discard(task)

    async def watchdog(self, interval_s: float = 1.0) -> None:
        """Cancel requests past their deadline, sweeping every ``interval_s``."""
        while True:
            await asyncio.sleep(interval_s)
            now = time.monotonic()
            for task, flight in list(self.tasks.items()):
                if flight.deadline <= now and task not in self._overdue and not task.done():
                    self._overdue.add(task)
                    task.cancel()

    async def drain(self, timeout_s: float) -> None:
        """Wait for requests in flight and those waiting their turn (SIGTERM
        finishes them, then exits); a finished one starts the next waiting one."""
        deadline = time.monotonic() + timeout_s
        while self.tasks and (left := deadline - time.monotonic()) > 0:
            await asyncio.wait(set(self.tasks), timeout=left, return_when=asyncio.FIRST_COMPLETED)

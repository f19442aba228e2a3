"""Per-client fairness: one NAS cannot starve the others.

Every request a client (one clients.conf entry) has in radmfa's worker counts
against that client's budget (``[radius] client_max_requests``) from the
moment it is admitted until its answer is decided: waiting its turn or being
decided. A request over the budget is refused (the listener drops and counts
it for that client), so a flood costs the flooder and nobody else.

At most ``slots`` requests are decided at once (``[radius] max_active``).
When every slot is busy, admitted requests wait in one queue per client, and
each freed slot goes to the next client in turn (round robin, i.e. deficit
round robin with a quantum of one request), so a quiet NAS waits for one free
slot, never behind a flooding NAS's backlog. With a budget below the number
of slots, one NAS can never hold every slot.

A request held for a call or a push waits for a person, not for the worker:
the listener lets it leave (slot and budget) while it waits.

Pure bookkeeping: no asyncio, no clock. The listener starts what ``offer``
and ``free_slot`` tell it to start.
"""

from __future__ import annotations

import enum
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class Admission(enum.Enum):
    RUN = "run"  # a slot was free: start it now
    QUEUED = "queued"  # it waits its client's turn; free_slot() hands it out
    REFUSED = "refused"  # its client is at its budget: drop it


_RUN = Admission.RUN  # a global, returned for nearly every request: core/model.py says why


class FairShare(Generic[T]):
    """Round robin over per-client queues feeding ``slots`` worker slots."""

    __slots__ = ("slots", "client_limit", "active", "admitted", "_queues", "_turns")

    def __init__(self, slots: int, client_limit: int) -> None:
        if slots < 1 or client_limit < 1:
            raise ValueError("slots and client_limit must be at least 1")
        self.slots = slots
        self.client_limit = client_limit
        self.active = 0  # slots in use
        self.admitted: dict[str, int] = {}  # client -> requests admitted and not yet decided
        self._queues: dict[str, deque[T]] = {}  # client -> its waiting requests, oldest first
        self._turns: deque[str] = deque()  # clients with a waiting request, next to serve first

    def at_limit(self, client: str) -> bool:
        """Would ``offer`` refuse this client now? (The listener asks before any costly check.)"""
        return self.admitted.get(client, 0) >= self.client_limit

    def offer(self, client: str, job: T) -> Admission:
        count = self.admitted.get(client, 0)
        if count >= self.client_limit:
            return Admission.REFUSED
        self.admitted[client] = count + 1
        if self.active < self.slots and not self._turns:
            self.active += 1
            return _RUN
        queue = self._queues.get(client)
        if queue is None:
            queue = self._queues[client] = deque()
            self._turns.append(client)
        queue.append(job)
        return Admission.QUEUED

    def free_slot(self) -> T | None:
        """A slot was given back: the request that takes it now, or None (the slot stays free)."""
        if not self._turns:
            self.active -= 1
            return None
        client = self._turns.popleft()
        queue = self._queues[client]
        job = queue.popleft()
        if queue:
            self._turns.append(client)  # its next request waits for the others' turns
        else:
            del self._queues[client]
        return job

    def leave(self, client: str) -> None:
        """A request of ``client`` was decided, held or given up: it no longer counts."""
        count = self.admitted.get(client, 0) - 1
        if count > 0:
            self.admitted[client] = count
        else:
            self.admitted.pop(client, None)

    def release(self, client: str) -> T | None:
        """``leave(client)`` then ``free_slot()``, in one call (every request
        ends here): the request that takes the slot now, or None."""
        admitted = self.admitted
        count = admitted.get(client, 0) - 1
        if count > 0:
            admitted[client] = count
        else:
            admitted.pop(client, None)
        turns = self._turns
        if not turns:
            self.active -= 1
            return None
        waiting = turns.popleft()
        queue = self._queues[waiting]
        job = queue.popleft()
        if queue:
            turns.append(waiting)
        else:
            del self._queues[waiting]
        return job

    def waiting(self) -> int:
        return sum(len(q) for q in self._queues.values())

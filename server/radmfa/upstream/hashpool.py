"""The bounded pool argon2 runs in: a fixed number of threads (argon2-cffi
releases the GIL while it hashes, so the event loop keeps answering) and a
fixed number of places to wait for one.

* A check that finds every place taken, or its client holding its whole
  share of them, is refused at once (:class:`PoolFull`) instead of queueing
  behind a flood: the NAS gets its answer, and the memory argon2 uses stays
  bounded at ``threads`` × the hash's memory cost.
* Waiting checks are served client by client in turn, not first come first
  served: a quiet NAS's check waits for at most one check of each other
  client, however many a flooding NAS has queued.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

BUSY = "password checks busy"  # audit reasons of checks the pool refused
CLIENT_BUSY = "password checks busy for this client"

_Job = tuple["Future[Any]", Callable[..., Any], tuple[object, ...], str]


class PoolFull(Exception):
    """Every place is taken, or the client holds its share of them."""


class HashPool:
    def __init__(self, threads: int, queue: int, client_share: int = 0) -> None:
        self.threads = threads
        self.places = threads + queue  # hashing or waiting
        self.client_share = client_share or self.places  # one client's most places
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="argon2")
        # Everything below is shared with the worker threads, under the lock.
        # A place is given back by the worker thread when its job ends, also
        # when its caller stopped waiting (a request past its deadline): a
        # place is free only once its hash really is done.
        self._lock = threading.Lock()
        self._running = 0  # worker loops started (at most threads)
        self._taken = 0
        self._held: Counter[str] = Counter()  # places by client
        self._waiting: OrderedDict[str, deque[_Job]] = OrderedDict()  # by client, in turn
        self.counts: Counter[str] = Counter()  # "hashed", "refused_busy", "refused_client_busy"

    async def run(self, fn: Callable[..., T], *args: object, client: str = "") -> T:
        job: Future[T] = Future()
        with self._lock:
            if self._taken >= self.places:
                refused = BUSY
            elif self._held[client] >= self.client_share:
                refused = CLIENT_BUSY
            else:
                refused = ""
                self._taken += 1
                self._held[client] += 1
                start = self._running < self.threads
                if start:
                    self._running += 1
                else:
                    self._waiting.setdefault(client, deque()).append((job, fn, args, client))
        if refused:
            self.counts["refused_busy" if refused == BUSY else "refused_client_busy"] += 1
            raise PoolFull(refused)
        if start:
            try:
                self._executor.submit(self._work, (job, fn, args, client))
            except BaseException:
                self._next(client)
                raise
        self.counts["hashed"] += 1
        return await asyncio.wrap_future(job)

    def _work(self, first: _Job) -> None:
        """A worker thread: this job, then whichever waits next, until none does."""
        item: _Job | None = first
        while item is not None:
            job, fn, args, client = item
            if job.set_running_or_notify_cancel():  # False: its caller gave up before it started
                try:
                    job.set_result(fn(*args))
                except BaseException as e:  # noqa: BLE001 - handed to the caller
                    job.set_exception(e)
            item = self._next(client)

    def _next(self, client: str) -> _Job | None:
        """Give back ``client``'s place; the next waiting job, the clients in turn."""
        with self._lock:
            self._taken -= 1
            self._held[client] -= 1
            if not self._held[client]:
                del self._held[client]
            if not self._waiting:
                self._running -= 1
                return None
            turn, jobs = next(iter(self._waiting.items()))
            item = jobs.popleft()
            if jobs:
                self._waiting.move_to_end(turn)  # this client's next job waits for the others'
            else:
                del self._waiting[turn]
            return item

    def close(self) -> None:
        with self._lock:
            for jobs in self._waiting.values():
                for job, *_ in jobs:
                    job.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)

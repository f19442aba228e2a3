"""The bounded pool argon2 runs in: a fixed number of threads (argon2-cffi
releases the GIL while it hashes, so the event loop keeps answering) and a
fixed number of places to wait for one. A check that finds every place
taken, or its client holding its whole share of them, is refused at once
(:class:`PoolFull`) instead of queueing behind a flood: the NAS gets its
answer, another NAS still finds a place, and the memory argon2 uses stays
bounded at ``threads`` × the hash's memory cost."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

BUSY = "password checks busy"  # audit reasons of checks the pool refused
CLIENT_BUSY = "password checks busy for this client"


class PoolFull(Exception):
    """Every place is taken, or the client holds its share of them."""


class HashPool:
    def __init__(self, threads: int, queue: int, client_share: int = 0) -> None:
        self.threads = threads
        self.places = threads + queue  # hashing or waiting
        self.client_share = client_share or self.places  # one client's most places
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="argon2")
        # Places are given back by the worker thread when a job ends, also when
        # its caller stopped waiting (a request past its deadline): a place is
        # free only once its hash really is done.
        self._lock = threading.Lock()
        self._taken = 0
        self._held: Counter[str] = Counter()  # places by client
        self.counts: Counter[str] = Counter()  # "hashed", "refused_busy", "refused_client_busy"

    async def run(self, fn: Callable[..., T], *args: object, client: str = "") -> T:
        with self._lock:
            if self._taken >= self.places:
                refused = BUSY
            elif self._held[client] >= self.client_share:
                refused = CLIENT_BUSY
            else:
                refused = ""
                self._taken += 1
                self._held[client] += 1
        if refused:
            self.counts["refused_busy" if refused == BUSY else "refused_client_busy"] += 1
            raise PoolFull(refused)
        try:
            job: Future[T] = self._executor.submit(fn, *args)
        except BaseException:
            self._give_back(client)
            raise
        job.add_done_callback(lambda _: self._give_back(client))
        self.counts["hashed"] += 1
        return await asyncio.wrap_future(job)

    def _give_back(self, client: str) -> None:
        with self._lock:
            self._taken -= 1
            self._held[client] -= 1
            if not self._held[client]:
                del self._held[client]

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

"""The bounded pool argon2 runs in: a fixed number of threads (argon2-cffi
releases the GIL while it hashes, so the event loop keeps answering) and a
fixed number of places to wait for one. A check that finds every place
taken is refused at once (:class:`PoolFull`) instead of queueing behind a
flood: the NAS gets its answer, and the memory argon2 uses stays bounded
at ``threads`` × the hash's memory cost."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

BUSY = "password checks busy"  # the audit reason of a check the full pool refused


class PoolFull(Exception):
    """Every thread is hashing and every waiting place is taken."""


class HashPool:
    def __init__(self, threads: int, queue: int) -> None:
        self.threads, self.queue = threads, queue
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="argon2")
        # Released by the worker thread when a job ends, also when its caller
        # stopped waiting (a request past its deadline): a place is free only
        # once its hash really is done.
        self._places = threading.BoundedSemaphore(threads + queue)
        self.counts: Counter[str] = Counter()  # "hashed", "refused_busy"

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        if not self._places.acquire(blocking=False):
            self.counts["refused_busy"] += 1
            raise PoolFull(BUSY)
        try:
            job: Future[T] = self._executor.submit(fn, *args)
        except BaseException:
            self._places.release()
            raise
        job.add_done_callback(lambda _: self._places.release())
        self.counts["hashed"] += 1
        return await asyncio.wrap_future(job)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

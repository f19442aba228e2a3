"""One thread that owns a blocking database connection, cheap to call from asyncio.

``run_in_executor`` wraps every call in a concurrent.futures.Future chained to
an asyncio one; on the hot path that bookkeeping costs more than the SQLite
statement itself. Here a call is one queue put; the thread runs everything
already queued and wakes each event loop once per batch, so under load many
statements share one wake-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
_Item = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...]]
_Done = tuple["asyncio.Future[Any]", Any, BaseException | None]


def _deliver(done: list[_Done]) -> None:
    for fut, result, exc in done:
        if fut.cancelled():
            continue
        if exc is None:
            fut.set_result(result)
        else:
            fut.set_exception(exc)


class DbThread:
    def __init__(self, name: str) -> None:
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def call(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._queue.put((loop, fut, fn, args))
        return fut

    def stop(self) -> None:
        self._queue.put(None)

    def _main(self) -> None:
        get, empty = self._queue.get, self._queue.empty
        while True:
            item = get()
            if item is None:
                return
            batch = [item]
            stopping = False
            # Only this thread takes from the queue, so what empty() saw is
            # there to get; asking costs less than get_nowait raising Empty
            # at the end of every batch.
            while not empty():
                more = get()
                if more is None:
                    stopping = True
                    break
                batch.append(more)
            by_loop: dict[asyncio.AbstractEventLoop, list[_Done]] = {}
            for loop, fut, fn, args in batch:
                try:
                    done: _Done = (fut, fn(*args), None)
                except BaseException as exc:  # handed to the awaiting coroutine
                    done = (fut, None, exc)
                by_loop.setdefault(loop, []).append(done)
            for loop, results in by_loop.items():
                with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
                    loop.call_soon_threadsafe(_deliver, results)
            if stopping:
                return

"""The store thread: every call's result or exception reaches its awaiting
coroutine, calls queued while it is busy run as one batch with one wake-up
of the loop, and stop() lets what was queued before it finish."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from radmfa.store.dbthread import DbThread


async def test_results_and_exceptions_reach_their_callers() -> None:
    thread = DbThread("test-db")
    try:
        def fail() -> None:
            raise ValueError("no")

        assert await thread.call(lambda a, b: a + b, 2, 3) == 5
        with pytest.raises(ValueError, match="no"):
            await thread.call(fail)
        assert await thread.call(lambda: "after") == "after"
    finally:
        thread.stop()


async def test_calls_queued_while_busy_run_in_one_batch_and_one_wake() -> None:
    loop = asyncio.get_running_loop()
    wakes: list[Any] = []
    real = loop.call_soon_threadsafe

    def counting(callback: Any, *args: Any) -> Any:
        wakes.append(args)
        return real(callback, *args)

    loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
    thread = DbThread("test-db")
    started, release = threading.Event(), threading.Event()
    try:
        def busy() -> str:
            started.set()
            release.wait(5)
            return "first"

        first = thread.call(busy)
        await asyncio.to_thread(started.wait, 5)
        wakes.clear()
        order: list[int] = []

        def step(n: int) -> int:
            order.append(n)
            if n == 2:
                raise KeyError(n)
            return n * 10

        queued = [thread.call(step, n) for n in range(5)]
        release.set()
        assert await first == "first"
        results = await asyncio.gather(*queued, return_exceptions=True)
        assert results[:2] == [0, 10] and isinstance(results[2], KeyError) and results[3:] == [30, 40]
        assert order == [0, 1, 2, 3, 4]
        assert [len(batch[0]) for batch in wakes] == [1, 5]  # the busy call's own, then the five in one
    finally:
        release.set()
        thread.stop()
        loop.call_soon_threadsafe = real  # type: ignore[method-assign]


async def test_stop_lets_what_was_queued_before_it_finish() -> None:
    thread = DbThread("test-db")
    started, release = threading.Event(), threading.Event()

    def busy() -> None:
        started.set()
        release.wait(5)

    first = thread.call(busy)
    await asyncio.to_thread(started.wait, 5)
    queued = [thread.call(lambda n=n: n) for n in range(3)]
    thread.stop()
    release.set()
    await first
    assert await asyncio.gather(*queued) == [0, 1, 2]
    await asyncio.to_thread(thread._thread.join, 5)  # noqa: SLF001
    assert not thread._thread.is_alive()  # noqa: SLF001

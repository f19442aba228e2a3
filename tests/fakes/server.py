"""Run an aiohttp application in a background thread on a free TCP port."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from aiohttp import web

T = TypeVar("T")


def free_tcp_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


class ThreadedApp:
    """Start with ``start()``; ``run(coro)`` runs a coroutine on its loop."""

    def __init__(self) -> None:
        self.port = free_tcp_port()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def make_app(self) -> web.Application:
        raise NotImplementedError

    async def _start(self) -> None:
        self._runner = web.AppRunner(self.make_app(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def start(self) -> Any:
        self._thread.start()
        self.run(self._start())
        return self

    def run(self, coro: Awaitable[T], timeout: float = 30.0) -> T:
        fut: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]
        return fut.result(timeout)

    def later(self, delay: float, fn: Callable[[], Awaitable[Any]]) -> None:
        """Run ``fn()`` on the fake's loop after ``delay`` seconds (not awaited)."""

        async def go() -> None:
            await asyncio.sleep(delay)
            await fn()

        self.loop.call_soon_threadsafe(lambda: self.loop.create_task(go()))

    def stop(self) -> None:
        if self._runner is not None:
            self.run(self._runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()

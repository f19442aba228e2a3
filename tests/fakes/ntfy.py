"""A fake ntfy server: records JSON publishes (POST / with a topic) and
"taps" an action button by doing the action's HTTP request, as the ntfy
app does (https://docs.ntfy.sh/publish/#send-http-request)."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes.server import ThreadedApp

_TOPIC = re.compile(r"[-_A-Za-z0-9]{1,64}")


class FakeNtfy(ThreadedApp):
    def __init__(self, *, token: str = "") -> None:
        super().__init__()
        self.token = token
        self.published: list[dict[str, Any]] = []
        self.tap_label: str | None = None  # auto-tap this button on each publish
        self.tap_delay_s = 0.3
        self.taps: list[tuple[str, int]] = []  # (label, HTTP status radmfa answered)
        self.tapped_at: list[float] = []

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/", self._publish)
        return app

    async def _publish(self, request: web.Request) -> web.Response:
        if self.token and request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"code": 40101, "error": "unauthorized"}, status=401)
        message = await request.json()
        if not isinstance(message, dict) or "topic" not in message:
            return web.json_response({"code": 40001, "error": "invalid request"}, status=400)
        if not _TOPIC.fullmatch(str(message["topic"])):  # ntfy's own rule for topic names
            invalid = {"code": 40009, "http": 400, "error": "invalid request: invalid topic"}
            return web.json_response(invalid, status=400)
        self.published.append(message)
        if self.tap_label is not None:
            label = self.tap_label
            self.later(self.tap_delay_s, lambda: self.tap(message, label))
        return web.json_response({"id": str(len(self.published)), "event": "message", "topic": message["topic"]})

    def action(self, message: dict[str, Any], label: str) -> dict[str, Any]:
        return next(a for a in message["actions"] if a["label"] == label)

    async def tap(self, message: dict[str, Any], label: str) -> int:
        import time

        act = self.action(message, label)
        self.tapped_at.append(time.monotonic())
        async with aiohttp.ClientSession() as http, http.request(act.get("method", "POST"), act["url"]) as resp:
            self.taps.append((label, resp.status))
            return resp.status

    def tap_now(self, message: dict[str, Any], label: str) -> int:
        return self.run(self.tap(message, label))

    def request(self, method: str, url: str) -> int:
        async def go() -> int:
            async with aiohttp.ClientSession() as http, http.request(method, url) as resp:
                return resp.status

        return self.run(go())

"""A generic HTTP receiver for the webhook providers: records each request."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from tests.fakes.server import ThreadedApp


@dataclass(frozen=True)
class Hit:
    method: str
    path: str
    headers: dict[str, str]
    body: str
    query: dict[str, str] = field(default_factory=dict)  # decoded, as the receiver reads it


class FakeWebhook(ThreadedApp):
    def __init__(self) -> None:
        super().__init__()
        self.hits: list[Hit] = []

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._any)
        return app

    async def _any(self, request: web.Request) -> web.Response:
        hit = Hit(request.method, request.path_qs, dict(request.headers), await request.text(), dict(request.query))
        self.hits.append(hit)
        return web.json_response({"ok": True})

    def request(self, method: str, url: str) -> int:
        """Do what a push app does when its button is tapped."""
        import aiohttp

        async def go() -> int:
            async with aiohttp.ClientSession() as http, http.request(method, url) as resp:
                return resp.status

        return self.run(go())

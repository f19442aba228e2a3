"""RadsecUpstream against a scripted RadSec server in this process, for what
radsecproxy will not do on cue: hold hundreds of requests at once, drop the
connection in the middle of a request, go silent and come back."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

import pytest

from radmfa.config import UpstreamConfig
from radmfa.core.model import AuthRequest
from radmfa.errors import UpstreamUnavailable
from radmfa.radius import crypto, wire
from radmfa.service.tls import server_context
from radmfa.upstream.radsec import RadsecUpstream
from tests.peers.certs import TestCa

pytestmark = pytest.mark.integration

DEADLINE_S = 30.0  # for what must happen long before timeout_s


def request(user: bytes) -> AuthRequest:
    attrs = ((wire.USER_NAME, user), (wire.USER_PASSWORD, b"x" * 16))
    return AuthRequest("r", "nas", "127.0.0.1", user, b"", None, "", bytes(16), attrs)


class Scripted:
    """A RadSec server: Access-Accept to everyone, held back until
    ``answer_after`` requests have come in (all at once then); no answer to
    the user "hold"; the user "cut" makes it close the connection. While
    ``silent``, nothing is answered. ``codes``: what came in, in order."""

    def __init__(self) -> None:
        self.answer_after = 1
        self.connections = 0
        self.requests = 0
        self.silent = False
        self.codes: list[int] = []
        self.held: list[tuple[asyncio.StreamWriter, bytes]] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                header = await reader.readexactly(4)
                data = header + await reader.readexactly(int.from_bytes(header[2:4], "big") - 4)
                frame = wire.parse(data)
                assert crypto.verify_request_ma(frame.data, frame.ma_offset, b"radsec")
                self.requests += 1
                self.codes.append(frame.code)
                if self.silent:
                    continue
                if frame.get(wire.USER_NAME) == b"cut":
                    writer.close()
                    return
                if frame.get(wire.USER_NAME) == b"hold":
                    continue
                reply = crypto.sign_response(wire.ACCESS_ACCEPT, frame.ident, frame.authenticator, b"", b"radsec")
                self.held.append((writer, reply))
                if self.requests >= self.answer_after:
                    for w, r in self.held:
                        w.write(r)
                    self.held.clear()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


@pytest.fixture
async def peer(tmp_path: Path):
    ca = TestCa(tmp_path, "ca")
    server_cert = ca.issue("rs.test", ips=("127.0.0.1",))
    client_cert = ca.issue("radmfa.test")
    scripted = Scripted()
    server = await asyncio.start_server(scripted.handle, "127.0.0.1", 0,
                                        ssl=server_context(server_cert.cert, server_cert.key, ca.path))
    port = server.sockets[0].getsockname()[1]
    cfg = UpstreamConfig("radius", (("127.0.0.1", port),), b"radsec", timeout_s=60, retries=1, transport="radsec",
                         tls_cert=client_cert.cert, tls_key=client_cert.key, tls_ca=ca.path)
    up = RadsecUpstream(cfg)
    await up.start()
    up.scripted_cfg = cfg  # for tests that need other timers
    yield scripted, up, ("127.0.0.1", port)
    await up.close()
    server.close()


async def test_more_requests_than_identifiers_open_more_connections(peer) -> None:
    scripted, up, server = peer
    scripted.answer_after = 600  # all 600 in flight at once
    results = await asyncio.wait_for(
        asyncio.gather(*(up.authenticate(request(f"u{i}".encode()), b"pw") for i in range(600))), DEADLINE_S)
    assert all(r.accepted for r in results)
    assert len(up._connections[server]) == 3  # 256 Identifiers per connection
    assert scripted.connections == 3
    assert up.dropped_replies == 0


async def test_lost_connection_fails_its_requests_at_once_and_the_next_one_reconnects(peer) -> None:
    scripted, up, server = peer
    assert (await up.authenticate(request(b"alice"), b"pw")).accepted
    waiting = asyncio.ensure_future(up.authenticate(request(b"hold"), b"pw"))  # on the same connection
    with pytest.raises(UpstreamUnavailable):  # not after timeout_s (60 s): when the connection goes
        await asyncio.wait_for(up.authenticate(request(b"cut"), b"pw"), DEADLINE_S)
    with pytest.raises(UpstreamUnavailable):
        await asyncio.wait_for(waiting, DEADLINE_S)
    assert scripted.connections == 1
    assert (await asyncio.wait_for(up.authenticate(request(b"carol"), b"pw"), DEADLINE_S)).accepted
    assert scripted.connections == 2


async def _until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout} s")
        await asyncio.sleep(0.05)


async def test_a_dead_server_is_probed_with_status_server_on_its_connection_and_comes_back(peer) -> None:
    scripted, fixture_up, server = peer
    cfg = dataclasses.replace(fixture_up.scripted_cfg, timeout_s=0.5, dead_time_s=3600, status_check_interval_s=0.1)
    up = RadsecUpstream(cfg)
    await up.start()
    try:
        scripted.silent = True
        with pytest.raises(UpstreamUnavailable):
            await up.authenticate(request(b"alice"), b"pw")
        assert up.failover.dead(now=time.monotonic()) == [server]
        await _until(lambda: scripted.codes.count(wire.STATUS_SERVER) >= 2, DEADLINE_S, "no two probes")
        assert not up.healthy()  # unanswered probes change nothing
        scripted.silent = False
        await _until(up.healthy, DEADLINE_S, "no answered Status-Server revived the server")
        assert up.failover.dead(now=time.monotonic()) == []
        # Only probes reached it since the login: no real traffic was needed.
        assert scripted.codes[0] == wire.ACCESS_REQUEST
        assert set(scripted.codes[1:]) == {wire.STATUS_SERVER}
        assert scripted.connections == 1  # the probes used the connection the login opened
        assert (await up.authenticate(request(b"bob"), b"pw")).accepted
    finally:
        await up.close()


async def test_no_probes_while_the_server_is_live_or_with_interval_zero(peer) -> None:
    scripted, fixture_up, server = peer
    cfg = dataclasses.replace(fixture_up.scripted_cfg, timeout_s=0.5, dead_time_s=3600, status_check_interval_s=0)
    up = RadsecUpstream(cfg)
    await up.start()
    try:
        assert (await up.authenticate(request(b"alice"), b"pw")).accepted
        scripted.silent = True
        with pytest.raises(UpstreamUnavailable):
            await up.authenticate(request(b"bob"), b"pw")
        await asyncio.sleep(0.5)  # would have been five probes at 0.1 s
        assert wire.STATUS_SERVER not in scripted.codes
        assert not up.healthy()
    finally:
        await up.close()

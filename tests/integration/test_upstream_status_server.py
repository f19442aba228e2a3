"""Dead upstream RADIUS servers are probed with Status-Server (RFC 5997 §4.2)
and brought back when they answer, with no login needed; a server that
ignores Status-Server stays dead until its dead time ends."""

from __future__ import annotations

import asyncio
import time

import pytest

from radmfa.config import UpstreamConfig
from radmfa.errors import UpstreamUnavailable
from radmfa.radius import crypto, wire
from radmfa.upstream.radius import RadiusUpstream
from tests.integration.harness import NAS_SECRET
from tests.integration.test_upstream import request
from tests.peers.fixtures import UPSTREAM_SECRET

pytestmark = pytest.mark.integration

REVIVE_WAIT_S = 60.0  # generous: a busy machine


async def _until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout} s")
        await asyncio.sleep(0.05)


async def test_a_dead_server_that_answers_status_server_is_live_again_without_logins(freeradius_factory):
    fr = freeradius_factory(mode="ack", secret=UPSTREAM_SECRET)
    cfg = UpstreamConfig("radius", (fr.address,), UPSTREAM_SECRET.encode(), timeout_s=0.5, retries=1,
                         dead_time_s=3600, status_check_interval_s=0.2)
    up = RadiusUpstream(cfg)
    await up.start()
    try:
        fr.stop()
        with pytest.raises(UpstreamUnavailable):
            await up.authenticate(request(b"alice"), b"pw")
        assert up.failover.dead(now=time.monotonic()) == [fr.address]
        assert not up.healthy()
        fr.start()
        await _until(up.healthy, REVIVE_WAIT_S, f"no Status-Server probe revived {fr.server};\n{fr.log_tail()}")
        assert up.failover.dead(now=time.monotonic()) == []
    finally:
        await up.close()


class IgnoresStatusServer(asyncio.DatagramProtocol):
    """Answers Access-Requests (Accept), never Status-Server: NPS, or FreeRADIUS without status_server."""

    def __init__(self) -> None:
        self.codes: list[int] = []
        self.answer = False

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        frame = wire.parse(data)
        self.codes.append(frame.code)
        if frame.code == wire.ACCESS_REQUEST and self.answer:
            secret = UPSTREAM_SECRET.encode()
            self.transport.sendto(crypto.sign_response(wire.ACCESS_ACCEPT, frame.ident, frame.authenticator, b"",
                                                       secret), addr)


async def test_a_server_that_ignores_status_server_keeps_its_dead_time():
    loop = asyncio.get_running_loop()
    transport, peer = await loop.create_datagram_endpoint(IgnoresStatusServer, local_addr=("127.0.0.1", 0))
    addr = transport.get_extra_info("sockname")[:2]
    cfg = UpstreamConfig("radius", (addr,), UPSTREAM_SECRET.encode(), timeout_s=0.3, retries=1,
                         dead_time_s=3600, status_check_interval_s=0.1)
    up = RadiusUpstream(cfg)
    await up.start()
    try:
        with pytest.raises(UpstreamUnavailable):
            await up.authenticate(request(b"alice"), b"pw")
        peer.answer = True
        await _until(lambda: peer.codes.count(wire.STATUS_SERVER) >= 3, REVIVE_WAIT_S, "no three probes")
        assert up.failover.dead(now=time.monotonic()) == [addr]  # probes unanswered: still dead
        # Real traffic still reaches it as the last resort, and its answer revives it.
        assert (await up.authenticate(request(b"alice"), b"pw")).accepted
        assert up.healthy()
    finally:
        await up.close()
        transport.close()
    probes = [c for c in peer.codes if c == wire.STATUS_SERVER]
    assert probes and all(c in (wire.ACCESS_REQUEST, wire.STATUS_SERVER) for c in peer.codes)


def test_radmfa_revives_its_upstream_by_status_server(radmfa_factory, radclient, freeradius_factory):
    fr = freeradius_factory(secret=UPSTREAM_SECRET, log_auth=True, users=())
    server = radmfa_factory(upstream=(
        f'type = "radius"\nservers = ["{fr.server}"]\nsecret = "{UPSTREAM_SECRET}"\n'
        "timeout_s = 0.5\nretries = 1\ndead_time_s = 3600\nstatus_check_interval_s = 0.5"))
    server.add_users(("alice", None, None))
    with server:
        fr.stop()
        lost = radclient(server.address, NAS_SECRET, [{"User-Name": "alice", "User-Password": "pw"}])[0]
        assert lost.code == "Access-Reject"
        server.wait_for_event("upstream server dead", server=fr.server)
        assert not [e for e in server.events() if e.get("event") == "upstream server alive"]
        fr.start()
        alive = server.wait_for_event("upstream server alive", server=fr.server, timeout=REVIVE_WAIT_S)
        assert alive["by"] == "Status-Server"
    # Nothing but probes reached the restarted server: no login was needed.
    assert fr.log_path is not None
    log = fr.log_path.read_text()
    assert "Ready to process requests" in log and "Login" not in log, log

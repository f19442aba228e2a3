"""Retransmitted copies through the real socket: dropped while the request is
pending, answered with the same bytes once it was answered, every copy
counted for its client (RFC 5080 §2.2.2). In process, on this test's loop."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from radmfa.config import load
from radmfa.radius import wire
from radmfa.service.app import build, listen
from tests.integration.harness import NAS_SECRET, REPLY_WAIT_S, access_request

pytestmark = pytest.mark.integration

# A wrong password is rejected after reject_delay_s: the request stays
# pending that long, whatever this machine's speed (the copies are read in
# milliseconds; the test waits on counts, not on time).
REJECT_DELAY_S = 5


@pytest.fixture
async def app(radmfa_factory):
    server = radmfa_factory(
        clients=f'client nas {{\n ipaddr = 127.0.0.1\n secret = "{NAS_SECRET}"\n}}\n',
        mfa='unknown_users = "password-only"',
        radius_extra=f"reject_delay_s = {REJECT_DELAY_S}",
    )
    server.add_users(("pat", "pat-pw", None))
    application = await build(load(server.config_path))
    await listen(application)
    application.audit.start()
    yield application
    await application.close()


async def until(what, condition) -> None:
    """The listener runs on this loop: let it read until ``condition()``."""
    deadline = time.monotonic() + REPLY_WAIT_S
    while not condition():
        assert time.monotonic() < deadline, what()
        await asyncio.sleep(0.01)


async def test_copies_are_dropped_while_pending_then_answered_with_the_same_bytes(app):
    server = ("127.0.0.1", app.addresses[0][1])
    service = app.service
    request, _ = access_request(9, [(wire.USER_NAME, b"pat")], password=b"wrong")
    loop = asyncio.get_running_loop()
    nas = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        nas.bind(("127.0.0.1", 0))
        nas.setblocking(False)
        stranger.bind(("127.0.0.2", 0))  # in no client's network
        nas.sendto(request, server)
        for _ in range(3):  # two at once, then more while the reject is delayed
            nas.sendto(request, server)
        await until(service.counters, lambda: service.dropped["duplicate_pending"] == 3)
        assert service.dropped_by_client == {"nas": {"duplicate_pending": 3}}
        stranger.sendto(request, server)  # the same bytes from elsewhere are not a copy
        await until(service.counters, lambda: service.dropped["unknown_client"] == 1)

        reply = await asyncio.wait_for(loop.sock_recv(nas, 4096), REJECT_DELAY_S + REPLY_WAIT_S)
        frame = wire.parse(reply)
        assert (frame.code, frame.ident) == (wire.ACCESS_REJECT, 9)
        for _ in range(2):
            nas.sendto(request, server)
        resent = [await asyncio.wait_for(loop.sock_recv(nas, 4096), REPLY_WAIT_S) for _ in range(2)]
        assert resent == [reply, reply]
    finally:
        nas.close()
        stranger.close()
    counters = service.counters()
    assert counters["answered"] == {"reject": 1, "duplicate_resent": 2}
    assert counters["dropped"] == {"duplicate_pending": 3, "unknown_client": 1}
    assert counters["dropped_by_client"] == {"nas": {"duplicate_pending": 3}}

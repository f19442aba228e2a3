"""One NAS cannot starve the others: per-client budgets in the listener.

The flooding NAS's upstream is a paused FreeRADIUS, so its admitted requests
stay in radmfa for as long as the test wants: what is admitted and what is
refused then depends on counts, not on how fast this machine is.
"""

from __future__ import annotations

import pytest

from radmfa.radius import crypto, wire
from tests.integration.harness import NAS_SECRET, REPLY_WAIT_S, access_request
from tests.integration.test_foundation import upstream_cfg
from tests.peers.fixtures import STANDARD_USERS, UPSTREAM_SECRET
from tests.peers.rawnas import RawNas

pytestmark = pytest.mark.integration

BUDGET = 4
FLOOD = 120

CLIENTS = (
    f'client quiet {{\n  ipaddr = 127.0.0.1\n  secret = "{NAS_SECRET}"\n}}\n'
    f'client flood {{\n  ipaddr = 127.0.0.2\n  secret = "{NAS_SECRET}"\n}}\n'
)


def status_server(ident: int) -> tuple[bytes, bytes]:
    ra = crypto.new_authenticator()
    return crypto.sign_request(wire.STATUS_SERVER, ident, ra, b"", NAS_SECRET.encode()), ra


def test_a_flooding_nas_is_held_to_its_budget_and_a_quiet_nas_is_answered(
    radmfa_factory, freeradius_upstream, freeradius_factory, radclient
):
    stalled = freeradius_factory(secret=UPSTREAM_SECRET, users=STANDARD_USERS)
    server = radmfa_factory(
        clients=CLIENTS,
        upstream=upstream_cfg(freeradius_upstream.address, timeout_s=30, retries=1),
        mfa='unknown_users = "password-only"',
        radius_extra=f"reject_delay_s = 0\nrequest_timeout_s = 120\nmax_active = 16\nclient_max_requests = {BUDGET}",
        extra=(
            f"[upstreams.stalled]\n{upstream_cfg(stalled.address, timeout_s=60, retries=1)}\n"
            '[clients.flood]\nupstream = "stalled"\n'
        ),
    )
    with server, RawNas(("127.0.0.1", server.port), bind=("127.0.0.2", 0), timeout=REPLY_WAIT_S) as nas:
        stalled.pause()
        try:
            for ident in range(FLOOD):
                nas.send(access_request(ident, [(wire.USER_NAME, b"bob")], password=b"bob-pw")[0])
            # One socket, read in order: the answer to this probe means every
            # flood packet before it has been admitted or refused.
            probe, ra = status_server(250)
            reply = nas.exchange(probe)
            assert reply is not None, server.log_text()
            assert crypto.verify_response(reply, ra, NAS_SECRET.encode(), 22)

            logins = [{"User-Name": "alice", "User-Password": "alice-pw"}] * 10
            replies = radclient(server.address, NAS_SECRET, logins, timeout=REPLY_WAIT_S, retries=1)
            assert [r.code for r in replies] == ["Access-Accept"] * 10, server.log_text()
        finally:
            stalled.resume()
        # The admitted flood requests are answered once their upstream wakes up.
        answered = [nas.receive() for _ in range(BUDGET)]
        assert all(r is not None and wire.parse(r).code == wire.ACCESS_ACCEPT for r in answered), server.log_text()
    stopped = [e for e in server.events() if e.get("event") == "stopped"]
    assert stopped, server.log_text()
    # Drops are the flooder's alone, and exactly what its budget refused.
    assert stopped[-1]["dropped_by_client"] == {"flood": {"client_busy": FLOOD - BUDGET}}
    warned = [e for e in server.events() if e.get("event") == "packet dropped" and e.get("reason") == "client_busy"]
    assert warned and warned[0]["client"] == "flood"


# -- in process: the listener's slots, held requests and shutdown --------------------------


async def test_a_held_request_gives_back_its_slot_and_waiting_requests_are_drained(radmfa_factory):
    """One slot: a request held for a phone must not keep the next login
    waiting; a request that waited for the slot is still answered at SIGTERM."""
    import asyncio
    import socket

    from radmfa.config import load
    from radmfa.core.model import Decision, Verdict
    from radmfa.service.app import build, listen

    server = radmfa_factory(radius_extra="reject_delay_s = 0\nmax_active = 1\nclient_max_requests = 4")
    app = await build(load(server.config_path))
    await listen(app)
    gates = {b"held": asyncio.Event(), b"slow": asyncio.Event()}

    async def handle(request, *, now, deadline):
        gate = gates.get(request.username)
        if request.username == b"held":
            deadline.extend(60)  # what a call or push does while it waits for the person
        if gate is not None:
            await gate.wait()
        return Decision(Verdict.ACCEPT, "test")

    app.service.pipeline.handle = handle
    nas = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    nas.bind(("127.0.0.1", 0))
    nas.setblocking(False)
    loop = asyncio.get_running_loop()

    def send(ident: int, user: bytes) -> None:
        nas.sendto(access_request(ident, [(wire.USER_NAME, user)], password=b"pw")[0], app.addresses[0])

    async def reply() -> bytes:
        return await asyncio.wait_for(loop.sock_recv(nas, 4096), REPLY_WAIT_S)

    try:
        send(1, b"held")
        send(2, b"fast")  # the one slot is free again: the held request gave it back
        assert (await reply())[1] == 2
        send(3, b"slow")  # takes the slot …
        send(4, b"next")  # … so this one waits for it
        for _ in range(int(REPLY_WAIT_S * 100)):
            if app.service.share.waiting():
                break
            await asyncio.sleep(0.01)
        assert app.service.share.waiting() == 1
        closing = asyncio.ensure_future(app.close())  # SIGTERM: finish what was admitted
        await asyncio.sleep(0)
        gates[b"slow"].set()
        gates[b"held"].set()
        answered = {(await reply())[1] for _ in range(3)}
        assert answered == {1, 3, 4}
        await asyncio.wait_for(closing, REPLY_WAIT_S)
    finally:
        nas.close()
        if not app.service.stopping:
            await app.close()

"""The listener in-process: bad input is dropped and counted, the server keeps serving."""

from __future__ import annotations

import asyncio
import signal
import socket
import struct
import time

import pytest

from radmfa.config import load
from radmfa.radius import crypto, wire
from radmfa.service.app import build, listen
from tests.integration.harness import NAS_SECRET, REPLY_WAIT_S, SILENCE_S, access_request, udp_exchange


@pytest.fixture
async def app(radmfa_factory):
    server = radmfa_factory(
        clients=(
            f'client strict {{\n ipaddr = 127.0.0.1\n secret = "{NAS_SECRET}"\n'
            " require_message_authenticator = yes\n}\n"
            f'client legacy {{\n ipaddr = 127.0.0.3\n secret = "{NAS_SECRET}"\n'
            " require_message_authenticator = no\n limit_proxy_state = yes\n}\n"
        ),
        mfa='unknown_users = "password-only"',
    )
    server.add_users(("pat", "pat-pw", None))
    application = await build(load(server.config_path))
    await listen(application)
    application.audit.start()
    yield application
    await application.close()


async def exchange(app, data: bytes, source: str = "127.0.0.1", timeout: float = REPLY_WAIT_S) -> bytes | None:
    """Send ``data`` from ``source`` and wait for a reply: one that must come."""
    port = app.addresses[0][1]
    loop = asyncio.get_running_loop()

    def go() -> bytes | None:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((source, 0))
        try:
            return udp_exchange(("127.0.0.1", port), data, timeout, sock=s)
        finally:
            s.close()

    return await loop.run_in_executor(None, go)


async def dropped(app, data: bytes, reason: str, source: str = "127.0.0.1") -> None:
    """Send ``data``: it must be dropped for ``reason`` (counted) and get no reply."""
    before = app.service.dropped[reason]
    port = app.addresses[0][1]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((source, 0))
    try:
        s.sendto(data, ("127.0.0.1", port))
        deadline = time.monotonic() + REPLY_WAIT_S
        while app.service.dropped[reason] == before:  # the listener runs on this loop: let it read
            assert time.monotonic() < deadline, (reason, dict(app.service.dropped))
            await asyncio.sleep(0.01)
        s.setblocking(False)
        with pytest.raises(BlockingIOError):  # a reply would have been sent before the count
            s.recv(4096)
    finally:
        s.close()


async def status_ok(app) -> bool:
    ra = crypto.new_authenticator()
    reply = await exchange(app, crypto.sign_request(wire.STATUS_SERVER, 5, ra, b"", NAS_SECRET.encode()))
    return reply is not None and crypto.verify_response(reply, ra, NAS_SECRET.encode(), 22)


MALFORMED = {
    "short_datagram": b"\x01\x02\x00",
    "bad_length": struct.pack("!BBH", 1, 1, 19) + bytes(16),
    "truncated": struct.pack("!BBH", 1, 1, 60) + bytes(16) + b"\x01\x05abc",
    "bad_code": struct.pack("!BBH", 2, 1, 20) + bytes(16),
    "attr_overflow": struct.pack("!BBH", 1, 1, 25) + bytes(16) + b"\x01\x09abc" + b"\x00"[:0] + b"x",
    "attr_type_zero": struct.pack("!BBH", 1, 1, 24) + bytes(16) + b"\x00\x04ab",
    "ma_bad_length": struct.pack("!BBH", 1, 1, 24) + bytes(16) + b"\x50\x04ab",
}


async def test_malformed_packets_are_dropped_counted_and_service_continues(app):
    for reason, data in MALFORMED.items():
        await dropped(app, data, reason)
    assert await status_ok(app)


async def test_blastradius_flags(app):
    # strict client: no MA → dropped
    data, _ = access_request(1, [(wire.USER_NAME, b"pat")], password=b"pat-pw", with_ma=False)
    await dropped(app, data, "blastradius_missing_ma")
    assert app.service.dropped["blastradius_missing_ma"] == 1
    # legacy client: no MA accepted, but Proxy-State without MA is not (limit_proxy_state)
    reply = await exchange(app, data, source="127.0.0.3")
    assert reply is not None and wire.parse(reply).code == wire.ACCESS_REJECT  # no factor enrolled
    assert reply[20] == wire.MESSAGE_AUTHENTICATOR  # MA first even when the request had none
    ps, _ = access_request(2, [(wire.USER_NAME, b"pat"), (wire.PROXY_STATE, b"x")], password=b"pat-pw", with_ma=False)
    await dropped(app, ps, "blastradius_proxy_state_without_ma", source="127.0.0.3")
    assert app.service.dropped["blastradius_proxy_state_without_ma"] == 1
    # MA anywhere in the packet is fine (BLAST-5): put it last
    ra = crypto.new_authenticator()
    attrs = [(wire.USER_NAME, b"pat"), (wire.USER_PASSWORD, crypto.hide_password(b"pat-pw", NAS_SECRET.encode(), ra))]
    body = wire.encode_attrs(attrs) + b"\x50\x12" + bytes(16)
    raw = bytearray(struct.pack("!BBH", 1, 3, 20 + len(body)) + ra + body)
    mac = crypto._hmac_md5(NAS_SECRET.encode(), bytes(raw))
    raw[-16:] = mac
    reply = await exchange(app, bytes(raw))
    assert reply is not None and crypto.verify_response(reply, ra, NAS_SECRET.encode(), 22)


async def test_status_server_without_ma_dropped(app):
    data = struct.pack("!BBH", 12, 1, 20) + bytes(16)
    await dropped(app, data, "status_server_without_ma", source="127.0.0.3")
    assert app.service.dropped["status_server_without_ma"] == 1


async def test_bad_user_password_length_dropped(app):
    ra = crypto.new_authenticator()
    body = wire.encode_attrs([(wire.USER_NAME, b"pat"), (wire.USER_PASSWORD, b"x" * 17)])
    data = crypto.sign_request(wire.ACCESS_REQUEST, 4, ra, body, NAS_SECRET.encode())
    await dropped(app, data, "bad_user_password")
    assert app.service.dropped["bad_user_password"] == 1
    assert await status_ok(app)


def test_sighup_reloads_clients_and_sigterm_drains(radmfa_factory):
    server = radmfa_factory(mfa='unknown_users = "password-only"', radius_extra="reject_delay_s = 2")
    server.add_users(("pat", "pat-pw", None))
    with server:
        other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        other.bind(("127.0.0.4", 0))
        data, _ = access_request(1, [(wire.USER_NAME, b"pat")], password=b"pat-pw")
        assert udp_exchange(("127.0.0.1", server.port), data, SILENCE_S, sock=other) is None
        with open(server.tmp / "clients.conf", "a") as f:
            f.write(f'client four {{\n ipaddr = 127.0.0.4\n secret = "{NAS_SECRET}"\n}}\n')
        server.signal(signal.SIGHUP)
        server.wait_for_event("clients.conf reloaded")
        reply = udp_exchange(("127.0.0.1", server.port), data, REPLY_WAIT_S, sock=other)
        assert reply is not None and wire.parse(reply).code == wire.ACCESS_REJECT  # pat has no factor
        # a bad clients.conf on reload keeps the old table
        (server.tmp / "clients.conf").write_text("client broken {\n")
        server.signal(signal.SIGHUP)
        server.wait_for_event("clients.conf reload failed; keeping the previous clients")
        assert server.status_server() is not None
        # SIGTERM while a (delayed) reject is in flight: it is still answered
        bad, _ = access_request(2, [(wire.USER_NAME, b"nobody-here")], password=b"x")
        other.sendto(bad, ("127.0.0.1", server.port))
        # One socket, read in order: the Status-Server's answer means the
        # request before it is in flight (it waits out the 2 s reject delay).
        probe = crypto.sign_request(wire.STATUS_SERVER, 3, crypto.new_authenticator(), b"", NAS_SECRET.encode())
        other.sendto(probe, ("127.0.0.1", server.port))
        other.settimeout(REPLY_WAIT_S)
        assert other.recv(4096)[:2] == bytes([wire.ACCESS_ACCEPT, 3])
        server.signal(signal.SIGTERM)
        late = other.recv(4096)
        assert wire.parse(late).code == wire.ACCESS_REJECT
        other.close()
        assert server.proc.wait(REPLY_WAIT_S) == 0


async def test_auto_flags_learn_from_the_first_packet(radmfa_factory):
    server = radmfa_factory(
        clients=(
            f'client auto1 {{\n ipaddr = 127.0.0.5\n secret = "{NAS_SECRET}"\n'
            " require_message_authenticator = auto\n limit_proxy_state = auto\n}\n"
            f'client auto2 {{\n ipaddr = 127.0.0.6\n secret = "{NAS_SECRET}"\n'
            " require_message_authenticator = auto\n limit_proxy_state = auto\n}\n"
        ),
    )
    server.add_users(("pat", "pat-pw", None))
    application = await build(load(server.config_path))
    await listen(application)
    try:
        with_ma, _ = access_request(1, [(wire.USER_NAME, b"pat")], password=b"pat-pw")
        without_ma, _ = access_request(2, [(wire.USER_NAME, b"pat")], password=b"pat-pw", with_ma=False)
        ps_no_ma, _ = access_request(
            3, [(wire.USER_NAME, b"pat"), (wire.PROXY_STATE, b"p")], password=b"pat-pw", with_ma=False
        )
        # auto1 first sends MA: from then on MA is required, and Proxy-State needs MA too
        assert await exchange(application, with_ma, source="127.0.0.5") is not None
        await dropped(application, without_ma, "blastradius_missing_ma", source="127.0.0.5")
        assert application.service.dropped["blastradius_missing_ma"] == 1
        # auto2 first sends no MA: MA stays optional (a legacy NAS keeps working)
        assert await exchange(application, without_ma, source="127.0.0.6") is not None
        await dropped(application, ps_no_ma, "blastradius_proxy_state_without_ma", source="127.0.0.6")
        assert application.service.dropped["blastradius_proxy_state_without_ma"] == 1
    finally:
        await application.close()


async def test_a_hung_request_is_rejected_by_the_watchdog(app):
    import dataclasses

    app.service.cfg = dataclasses.replace(app.service.cfg, request_timeout_s=1.0)

    async def hang(request, *, now, deadline):
        await asyncio.sleep(3600)  # a store or peer that never answers

    app.service.pipeline.handle = hang
    watchdog = asyncio.get_running_loop().create_task(app.service.watchdog(interval_s=0.1))
    try:
        data, ra = access_request(7, [(wire.USER_NAME, b"pat")], password=b"pat-pw")
        started = time.monotonic()
        reply = await exchange(app, data)  # without the watchdog: never (the handler sleeps an hour)
        assert reply is not None and wire.parse(reply).code == wire.ACCESS_REJECT
        assert crypto.verify_response(reply, ra, NAS_SECRET.encode(), 22)
        assert time.monotonic() - started >= 1.0  # not before request_timeout_s
        assert not app.service.flights.tasks
    finally:
        watchdog.cancel()


async def test_drop_warnings_are_bounded_under_a_spoofed_source_flood(app, capsys):
    from radmfa.service import radius as radius_service

    for i in range(500):  # 500 different "sources", as a spoofed flood would look
        app.service._warn("unknown_client", "", f"198.51.100.{i % 250}.{i}")
    lines = [line for line in capsys.readouterr().out.splitlines() if "packet dropped" in line]
    assert len(lines) == radius_service.WARN_PER_MINUTE
    assert app.service.warnings.suppressed("unknown_client") == 500 - radius_service.WARN_PER_MINUTE


async def test_store_failure_in_drop_mode_silences_requests_and_status_server(app):
    import dataclasses

    app.service.cfg = dataclasses.replace(app.service.cfg, on_backend_failure="drop")
    assert await status_ok(app)

    async def broken(request, *, now, deadline):
        raise RuntimeError("database is locked")  # what a failing store looks like here

    app.service.pipeline.handle = broken
    data, _ = access_request(8, [(wire.USER_NAME, b"pat")], password=b"pat-pw")
    await dropped(app, data, "backend_failure")
    assert app.service.dropped["backend_failure"] == 1
    ra = crypto.new_authenticator()
    probe = crypto.sign_request(wire.STATUS_SERVER, 5, ra, b"", NAS_SECRET.encode())
    await dropped(app, probe, "status_server_unhealthy")  # a NAS probing this node fails over

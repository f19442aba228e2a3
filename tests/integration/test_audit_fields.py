"""Each answered request's audit row carries seed 002's fields, filled by the
real listener from the request, the client's policy and [audit]."""

from __future__ import annotations

import asyncio
import socket

import pytest

from radmfa.config import load
from radmfa.core.model import AuditRecord
from radmfa.radius import wire
from radmfa.service.app import build, listen
from tests.integration.harness import REPLY_WAIT_S, access_request, udp_exchange

pytestmark = pytest.mark.integration


async def login(app, attrs: list[tuple[int, bytes]], password: bytes) -> None:
    data, _ = access_request(7, attrs, password=password)
    port = app.addresses[0][1]
    reply = await asyncio.get_running_loop().run_in_executor(
        None, lambda: udp_exchange(("127.0.0.1", port), data, REPLY_WAIT_S)
    )
    assert reply is not None


async def rows(app) -> list[AuditRecord]:
    await app.audit.flush()
    return await app.store.query_audit()


async def start(radmfa_factory, extra: str):
    server = radmfa_factory(mfa='unknown_users = "password-only"')
    server.config_path.write_text(server.config_path.read_text() + extra)
    server.add_users(("alice", "alice-pw", None))
    app = await build(load(server.config_path))
    await app.store.update_user("alice", {"first_name": "Alice", "last_name": "Liddell", "email": "a@example.com"})
    await listen(app)
    return app


async def test_names_email_user_ip_and_server(radmfa_factory) -> None:
    app = await start(radmfa_factory, """
[audit]
record_names = true
record_email = true
server_name = "mfa-test-1"

[clients.localhost]
user_ip_attribute = "Framed-IP-Address"
""")
    try:
        await login(app, [(wire.USER_NAME, b"CORP\\alice"), (8, bytes([203, 0, 113, 9])),
                          (wire.CALLING_STATION_ID, b"00-11-22-33-44-55")], b"alice-pw")
        (row,) = await rows(app)
    finally:
        await app.close()
    assert (row.username, row.result, row.reason) == ("CORP\\alice", "reject", "new-user: no factor enrolled")
    assert (row.first_name, row.last_name, row.email) == ("Alice", "Liddell", "a@example.com")
    assert row.user_ip == "203.0.113.9" and row.calling_station_id == "00-11-22-33-44-55"
    assert (row.server_name, row.server_ip) == ("mfa-test-1", "127.0.0.1")
    assert (row.client_name, row.client_ip) == ("localhost", "127.0.0.1")
    assert row.request_id and row.duration_ms > 0


async def test_defaults_record_no_names_and_read_calling_station_id(radmfa_factory) -> None:
    app = await start(radmfa_factory, "")
    try:
        await login(app, [(wire.USER_NAME, b"alice"), (wire.CALLING_STATION_ID, b"198.51.100.23")], b"alice-pw")
        await login(app, [(wire.USER_NAME, b"walk-in"), (wire.CALLING_STATION_ID, b"not an address")], b"x")
        first, second = await rows(app)
    finally:
        await app.close()
    assert (first.first_name, first.last_name, first.email) == ("", "", "")
    assert first.user_ip == "198.51.100.23" and first.server_name == socket.gethostname()
    assert (second.username, second.result, second.user_ip) == ("walk-in", "reject", "")
    # No second factor was asked of either: the method is "none", never empty.
    assert (first.factor, second.factor) == ("none", "none")

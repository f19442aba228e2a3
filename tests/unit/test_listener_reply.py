"""The listener signs the decision's attribute tuple as it is: salt-encrypted
values concealed for the NAS, every Proxy-State of the request after them,
unmodified and in order (PROXY-1), the Message-Authenticator first."""

from __future__ import annotations

import asyncio
import ipaddress
from datetime import datetime
from typing import Any

from radmfa.config import RadiusConfig
from radmfa.core.model import AuditRecord, AuthRequest, Decision, Verdict
from radmfa.core.ports import Deadline
from radmfa.radius import crypto, packet, wire
from radmfa.radius.clients import Client, ClientTable
from radmfa.radius.dedup import DedupCache
from radmfa.service.audit import AuditSink
from radmfa.service.policies import PolicyTable
from radmfa.service.radius import RadiusService

SECRET = b"reply-test-secret"
NAS = ("127.0.0.1", 40001)
AUTH = bytes(range(100, 116))
ATTRS = ((wire.CLASS, b"c1"), (wire.TUNNEL_PASSWORD, b"\x01tunnel-pw"), (wire.SESSION_TIMEOUT, b"\x00\x00\x0e\x10"))


class _Accept:
    async def handle(self, request: AuthRequest, *, now: datetime, deadline: Deadline) -> Decision:
        return Decision(Verdict.ACCEPT, "accepted", "none", ATTRS)


class _Rows:
    async def write_audit(self, rows: list[AuditRecord]) -> None:
        return None


class _Capture:
    def __init__(self) -> None:
        self.replies: asyncio.Queue[bytes] = asyncio.Queue()

    def sendto(self, data: bytes, addr: Any) -> None:
        self.replies.put_nowait(data)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.2", 1812) if name == "sockname" else default


async def test_the_reply_holds_the_decision_concealed_then_every_proxy_state() -> None:
    client = Client("nas", ipaddress.ip_network("127.0.0.1/32"), SECRET, "nas", "yes", "yes", "test:1")
    service = RadiusService(
        RadiusConfig(reject_delay_s=0.0), ClientTable([client]), _Accept(), AuditSink(_Rows()),
        policies=PolicyTable(), upstream_healthy=lambda: True,
    )
    states = [b"second-hop", b"first-hop"]
    attrs = wire.encode_attrs([(wire.USER_NAME, b"pat"), *((wire.PROXY_STATE, s) for s in states)])
    conn = _Capture()
    service.receive(crypto.sign_request(wire.ACCESS_REQUEST, 5, AUTH, attrs, SECRET), NAS, conn, DedupCache(10.0))
    reply = await asyncio.wait_for(conn.replies.get(), 10)
    await asyncio.wait_for(service.drain(10), 15)
    frame = wire.parse(reply)
    assert frame.code == wire.ACCESS_ACCEPT and frame.ma_offset == 22  # the MA first
    assert crypto.verify_response(reply, AUTH, SECRET, frame.ma_offset)
    kept = frame.attrs[1:]
    assert [t for t, _ in kept] == [wire.CLASS, wire.TUNNEL_PASSWORD, wire.SESSION_TIMEOUT, *[wire.PROXY_STATE] * 2]
    assert kept[1][1] != ATTRS[1][1]  # concealed on the wire
    assert tuple(packet.reveal(kept[:3], SECRET, AUTH)) == ATTRS
    assert frame.all(wire.PROXY_STATE) == states

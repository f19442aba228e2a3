"""The listener remembers the local address of each transport a request came
in on, for the audit row's server_ip, without keeping the transport alive: a
RadSec connection that has ended (its TLS buffers run to hundreds of KiB)
must be freed, however many come and go."""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import struct
import weakref
from datetime import datetime
from typing import Any

from radmfa.config import RadiusConfig
from radmfa.core.model import AuditRecord, AuthRequest, Decision, Verdict
from radmfa.core.ports import Deadline
from radmfa.radius import crypto, wire
from radmfa.radius.clients import Client, ClientTable
from radmfa.radius.dedup import DedupCache
from radmfa.service.audit import AuditSink
from radmfa.service.policies import PolicyTable
from radmfa.service.radius import RadiusService

SECRET = b"transport-test-secret"
NAS = ("127.0.0.1", 40000)


class _Relay:
    """Answers every request with a relayed Access-Reject (no reject delay)."""

    async def handle(self, request: AuthRequest, *, now: datetime, deadline: Deadline) -> Decision:
        return Decision(Verdict.REJECT, "relayed", local=False)


class _Rows:
    async def write_audit(self, rows: list[AuditRecord]) -> None:
        return None


class _Connection:
    """One connection's transport, as RadSec's: it ends, and is dropped."""

    def __init__(self, local: tuple[str, int]) -> None:
        self.local = local
        self.replies: asyncio.Queue[bytes] = asyncio.Queue()

    def sendto(self, data: bytes, addr: Any) -> None:
        self.replies.put_nowait(data)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.local if name == "sockname" else default


def _service() -> tuple[RadiusService, AuditSink]:
    client = Client("nas", ipaddress.ip_network("127.0.0.1/32"), SECRET, "nas", "yes", "yes", "test:1")
    audit = AuditSink(_Rows())
    service = RadiusService(
        RadiusConfig(reject_delay_s=0.0), ClientTable([client]), _Relay(), audit,
        policies=PolicyTable(), upstream_healthy=lambda: True,
    )
    return service, audit


def _request(ident: int) -> bytes:
    attrs = wire.encode_attrs([(wire.USER_NAME, b"pat")])
    return crypto.sign_request(wire.ACCESS_REQUEST, ident, struct.pack("!16B", *range(16)), attrs, SECRET)


async def test_the_audit_row_names_the_address_the_request_came_in_on() -> None:
    service, audit = _service()
    for n, local in enumerate([("127.0.0.2", 2083), ("127.0.0.3", 2083), ("127.0.0.2", 2083)]):
        conn = _Connection(local)
        service.receive(_request(n), NAS, conn, DedupCache(10.0))
        await asyncio.wait_for(conn.replies.get(), 10)
    await asyncio.wait_for(service.drain(10), 15)
    assert [row.server_ip for row in audit._rows] == ["127.0.0.2", "127.0.0.3", "127.0.0.2"]  # noqa: SLF001


async def test_an_ended_connection_is_not_kept_by_the_listener() -> None:
    service, _ = _service()
    gone = []
    for n in range(3):
        conn = _Connection(("127.0.0.2", 2083))
        service.receive(_request(n), NAS, conn, DedupCache(10.0))
        await asyncio.wait_for(conn.replies.get(), 10)
        gone.append(weakref.ref(conn))
        del conn
    await asyncio.wait_for(service.drain(10), 15)
    gc.collect()
    assert [ref() for ref in gone] == [None, None, None]


async def test_the_listeners_audit_row_is_a_whole_audit_record() -> None:
    # The listener builds the row as a tuple, field by field: it must be the
    # value AuditRecord's constructor makes from the same fields.
    service, audit = _service()
    conn = _Connection(("127.0.0.2", 1812))
    service.receive(_request(1), NAS, conn, DedupCache(10.0))
    await asyncio.wait_for(conn.replies.get(), 10)
    await asyncio.wait_for(service.drain(10), 15)
    (row,) = audit._rows  # noqa: SLF001
    assert type(row) is AuditRecord and len(row) == len(AuditRecord._fields)
    assert row == AuditRecord(*row) and row._asdict() == AuditRecord(**row._asdict())._asdict()
    assert (row.client_name, row.username, row.result, row.reason, row.server_ip) == (
        "nas", "pat", "reject", "relayed", "127.0.0.2")

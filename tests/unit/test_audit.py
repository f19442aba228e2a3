"""The audit sink loses nothing when the store hiccups or the service stops."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from radmfa.core.model import AuditRecord
from radmfa.service.audit import AuditSink
from radmfa.store.sql_audit import AUDIT_COLUMNS


def row(n: int) -> AuditRecord:
    return AuditRecord(datetime.now(UTC), f"r{n}", "nas", "10.0.0.1", "alice", "", "totp", "accept", "ok", 1.0)


class FlakyStore:
    def __init__(self, failures: int, delay: float = 0.0) -> None:
        self.failures = failures
        self.delay = delay
        self.rows: list[AuditRecord] = []
        self.writing = asyncio.Event()  # set once a write has started

    async def write_audit(self, rows):
        self.writing.set()
        await asyncio.sleep(self.delay)
        if self.failures:
            self.failures -= 1
            raise RuntimeError("database is down")
        self.rows.extend(rows)


async def test_failed_writes_are_retried_and_close_flushes_everything():
    store = FlakyStore(failures=2)
    sink = AuditSink(store, batch=10, interval_s=0.01)  # type: ignore[arg-type]
    sink.start()
    for n in range(95):
        sink.record(row(n))
    await asyncio.sleep(0.1)
    await sink.close()
    assert [r.request_id for r in store.rows] == [f"r{n}" for n in range(95)]
    assert sink.written == 95 and sink.dropped == 0


async def test_close_never_cancels_a_write_in_flight():
    store = FlakyStore(failures=0, delay=0.05)
    sink = AuditSink(store, batch=5, interval_s=0.01)  # type: ignore[arg-type]
    sink.start()
    for n in range(12):
        sink.record(row(n))
    await asyncio.wait_for(store.writing.wait(), 30)  # a write is now in flight
    assert len(store.rows) < 12
    await sink.close()
    assert len(store.rows) == 12


async def test_buffer_is_bounded_while_the_store_is_down():
    store = FlakyStore(failures=10**9)
    sink = AuditSink(store, batch=10, max_buffered=100)  # type: ignore[arg-type]
    for n in range(250):
        sink.record(row(n))
    assert len(sink._rows) == 100 and sink.dropped == 150
    assert sink._rows[0].request_id == "r150"  # the newest are kept


def test_an_audit_record_is_a_row_in_the_table_column_order() -> None:
    # The store writes a record as the tuple it is, its time converted:
    # its fields must be the audit columns, in their order.
    assert AuditRecord._fields == tuple(AUDIT_COLUMNS.split(", "))
    record = AuditRecord(datetime(2030, 1, 1, tzinfo=UTC), "r1", "vpn", "192.0.2.1", "alice", "", "totp",
                         "accept", "", 1.5)
    assert record[1:] == ("r1", "vpn", "192.0.2.1", "alice", "", "totp", "accept", "", 1.5, *[""] * 8)
    assert record.server_ip == "" and record._replace(phone="+1").phone == "+1"

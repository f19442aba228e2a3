"""Contract: seed 002's audit fields, report filters and SQL aggregates (both backends)."""

from __future__ import annotations

import itertools
import sqlite3
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from radmfa.config import load
from radmfa.core.admin_model import AuditFilter
from radmfa.core.admin_ports import Store
from radmfa.core.model import AuditRecord
from radmfa.service.app import purge_once
from radmfa.store import open_store, schema
from radmfa.store.codec import from_epoch
from radmfa.store.sql_audit import AUDIT_ROWS_PER_INSERT, AuditSql, audit_where, daily_counts, epoch_day
from tests.store.conftest import Backend

DAY0 = datetime(2030, 3, 1, tzinfo=UTC)
DAY = 86400  # seconds
EPOCH_DAY0 = int(DAY0.timestamp()) // DAY


def row(n: int, hours: float, user: str, result: str, *, client: str = "vpn1", factor: str = "totp",
        phone: str = "") -> AuditRecord:
    return AuditRecord(
        time=DAY0 + timedelta(hours=hours),
        request_id=f"r{n}",
        client_name=client,
        client_ip="192.0.2.1" if client == "vpn1" else "192.0.2.2",
        username=user,
        calling_station_id="198.51.100.7",
        factor=factor,
        result=result,
        reason="" if result == "accept" else "wrong code",
        duration_ms=1.5,
        first_name="Alice" if user == "alice" else "",
        last_name="Liddell" if user == "alice" else "",
        email="alice@example.com" if user == "alice" else "",
        phone=phone,
        device="ntfy:abc" if factor == "push" else "",
        user_ip="198.51.100.7",
        server_name="mfa1",
        server_ip="192.0.2.10",
    )


# Three UTC days; the last row of day 0 is one second before midnight, so a
# backend that rounds instead of flooring would move it to day 1.
SEED = [
    row(0, 1, "alice", "accept"),
    row(1, 2, "bob", "reject", client="asa"),
    row(2, 3, "alice", "reject", factor="voice", phone="+14155550100"),
    row(3, 24 - 1 / 3600, "bob", "accept", factor="sms", phone="+14155550111"),
    row(4, 25, "alice", "accept", factor="voice", phone="+14155550100"),
    row(5, 26, "carol", "reject", client="asa", factor="push"),
    row(6, 27, "bob", "reject"),
    row(7, 49, "carol", "accept", client="asa"),
    row(8, 50, "bob", "challenge"),
    row(9, 51, "bob", "reject", client="asa", factor="sms", phone="+14155550111"),
]


@pytest.fixture
async def seeded(store: Store) -> Store:
    await store.write_audit(SEED)
    return store


async def test_every_field_round_trips(seeded: Store) -> None:
    assert await seeded.query_audit() == SEED


FILTERS = {
    "username": ["alice", "bob", "nobody"],
    "phone": ["+14155550100", "+14155550111"],
    "result": ["accept", "reject"],
    "client": ["vpn1", "asa"],
    "method": ["totp", "voice", "sms", "push"],
}
COLUMN = {"username": "username", "phone": "phone", "result": "result", "client": "client_name", "method": "factor"}


def expected(**given: object) -> list[str]:
    since, until = given.pop("since", None), given.pop("until", None)
    return [
        r.request_id
        for r in SEED
        if (since is None or r.time >= since)  # type: ignore[operator]
        and (until is None or r.time < until)  # type: ignore[operator]
        and all(getattr(r, COLUMN[k]) == v for k, v in given.items())
    ]


async def test_each_filter_pair_gives_exactly_the_matching_rows(seeded: Store) -> None:
    ranges = [{}, {"since": DAY0 + timedelta(days=1)}, {"until": DAY0 + timedelta(days=1)},
              {"since": DAY0 + timedelta(hours=2), "until": DAY0 + timedelta(hours=50)}]
    checked = 0
    for first, second in itertools.combinations(FILTERS, 2):
        for a, b in itertools.product(FILTERS[first], FILTERS[second]):
            for bounds in ranges:
                given = {first: a, second: b, **bounds}
                got = [r.request_id for r in await seeded.query_audit(**given)]  # type: ignore[arg-type]
                assert got == expected(**given), given
                checked += bool(got)
    assert checked > 20  # the combinations are not all empty
    for name, values in FILTERS.items():  # and each filter alone
        for value in values:
            assert [r.request_id for r in await seeded.query_audit(**{name: value})] == expected(**{name: value})


async def test_count_by_day_method_and_result(seeded: Store) -> None:
    rows = await seeded.count_audit(AuditFilter(), ("day", "method", "result"))
    d = EPOCH_DAY0
    assert rows == [
        (d, "sms", "accept", 1),
        (d, "totp", "accept", 1),
        (d, "totp", "reject", 1),
        (d, "voice", "reject", 1),
        (d + 1, "push", "reject", 1),
        (d + 1, "totp", "reject", 1),
        (d + 1, "voice", "accept", 1),
        (d + 2, "sms", "reject", 1),
        (d + 2, "totp", "accept", 1),
        (d + 2, "totp", "challenge", 1),
    ]


async def test_count_filters_and_ranges(seeded: Store) -> None:
    day1 = AuditFilter(since=DAY0 + timedelta(days=1), until=DAY0 + timedelta(days=2))
    assert await seeded.count_audit(day1, ("result",)) == [("accept", 1), ("reject", 2)]
    assert await seeded.count_audit(AuditFilter(client="asa"), ("client", "result")) == [
        ("asa", "accept", 1), ("asa", "reject", 3)
    ]
    assert await seeded.count_audit(AuditFilter(method="voice"), ("user",)) == [("alice", 2)]


async def test_top_users_by_failures(seeded: Store) -> None:
    rejects = AuditFilter(result="reject")
    assert await seeded.count_audit(rejects, ("user",), most_first=True) == [
        ("bob", 3), ("alice", 1), ("carol", 1)  # ties by name
    ]
    assert await seeded.count_audit(rejects, ("user",), most_first=True, limit=1) == [("bob", 3)]


async def test_count_refuses_unknown_groups(store: Store) -> None:
    with pytest.raises(ValueError, match="group audit rows"):
        await store.count_audit(AuditFilter(), ("username; DROP TABLE audit",))
    with pytest.raises(ValueError):
        await store.count_audit(AuditFilter(), ())


# -- the index plan ------------------------------------------------------------------

PLANS = [
    ("SELECT * FROM audit WHERE time >= ? AND time < ? ORDER BY time, id", 2, "audit_time"),
    ("SELECT * FROM audit WHERE username = ? AND time >= ? ORDER BY time, id", 2, "audit_username"),
    ("SELECT * FROM audit WHERE client_name = ? AND time >= ? ORDER BY time, id", 2, "audit_client"),
    ("SELECT * FROM audit WHERE phone = ? AND phone <> '' AND time >= ? ORDER BY time, id", 2, "audit_phone"),
    ("SELECT * FROM audit WHERE factor = ? AND time >= ? ORDER BY time, id", 2, "audit_factor"),
    ("SELECT * FROM audit WHERE result = ? AND time >= ? ORDER BY time, id", 2, "audit_result"),
]


@pytest.mark.parametrize(("sql", "params", "index"), PLANS, ids=[p[2] for p in PLANS])
async def test_sqlite_plan_uses_the_filter_index(tmp_path: Path, sql: str, params: int, index: str) -> None:
    # SQLite only (PostgreSQL's planner picks by statistics; its plans on a
    # year of rows are in docs/benchmarks.md).
    store = await open_store("sqlite:///radmfa.db", key_file=tmp_path / "k", base_dir=tmp_path)
    try:
        await store.write_audit(SEED)
    finally:
        await store.close()
    db = sqlite3.connect(tmp_path / "radmfa.db")
    try:
        plan = " ".join(str(r[-1]) for r in db.execute(f"EXPLAIN QUERY PLAN {sql}", tuple(range(params))))
    finally:
        db.close()
    assert f"USING INDEX {index}" in plan, plan
    # Rows come in time order from the index (audit_result's username column
    # may leave rows of one same time to be put in id order: "RIGHT PART").
    assert "USE TEMP B-TREE FOR ORDER BY" not in plan, plan


# -- per-day counts (audit_daily) ----------------------------------------------------


async def test_daily_counts_match_the_audit_rows(seeded: Store) -> None:
    for by in [("day", "method", "result"), ("client", "result"), ("day", "result"), ("method",)]:
        assert await seeded.count_daily(by) == await seeded.count_audit(AuditFilter(), by), by
    day1 = {"since": DAY0 + timedelta(days=1), "until": DAY0 + timedelta(days=2)}
    assert await seeded.count_daily(("result",), **day1) == await seeded.count_audit(AuditFilter(**day1),
                                                                                      ("result",))
    assert await seeded.count_daily(("day",), client="asa", method="sms") == [(EPOCH_DAY0 + 2, 1)]
    assert await seeded.count_daily(("client",), result="accept") == [("asa", 1), ("vpn1", 3)]


async def test_daily_counts_widen_to_whole_days(seeded: Store) -> None:
    noon = DAY0 + timedelta(days=1, hours=12)  # day 1's rows are at 01:00-03:00
    assert await seeded.count_daily(("day",), since=noon) == [(EPOCH_DAY0 + 1, 3), (EPOCH_DAY0 + 2, 3)]
    assert await seeded.count_daily(("day",), until=noon) == [(EPOCH_DAY0, 4), (EPOCH_DAY0 + 1, 3)]
    midnight = DAY0 + timedelta(days=1)  # exclusive at a day's start: that day is not counted
    assert await seeded.count_daily(("day",), until=midnight) == [(EPOCH_DAY0, 4)]


async def test_daily_counts_add_up_across_batches(store: Store) -> None:
    for record in SEED:  # one write per row: each upserts its day's count
        await store.write_audit([record])
    await store.write_audit(SEED[:2])
    assert await store.count_daily(("day", "client", "method", "result")) == await store.count_audit(
        AuditFilter(), ("day", "client", "method", "result")
    )


async def test_a_large_batch_is_stored_whole_and_in_order(store: Store) -> None:
    # Several rows a statement, then the rest one a statement: none lost,
    # none twice, every field as given, ids in the batch's order.
    batch = [
        row(n, (n // 2) / 60, f"user{n % 7}", ("accept", "reject")[n % 2], factor=("totp", "sms")[n % 2],
            phone="+14155550100" if n % 2 else "")
        for n in range(2 * AUDIT_ROWS_PER_INSERT + 23)
    ]
    await store.write_audit(batch)
    again = [r._replace(request_id=f"again{r.request_id}") for r in batch[:AUDIT_ROWS_PER_INSERT]]
    await store.write_audit(again)
    # Rows of one time come in (time, id) order: the order they were given in.
    expected = sorted(batch + again, key=lambda r: (r.time, r.request_id.startswith("again")))
    assert await store.query_audit() == expected
    assert await store.count_daily(("day", "client", "method", "result")) == await store.count_audit(
        AuditFilter(), ("day", "client", "method", "result")
    )


async def test_retention_drops_whole_days(seeded: Store) -> None:
    assert await seeded.purge_audit(before=DAY0 + timedelta(days=1, hours=1, minutes=30)) == 5
    # Day 1 is cut in the middle: its count stays until the whole day is purged.
    assert await seeded.count_daily(("day",)) == [(EPOCH_DAY0 + 1, 3), (EPOCH_DAY0 + 2, 3)]
    await seeded.purge_audit(before=DAY0 + timedelta(days=2))
    assert await seeded.count_daily(("day",)) == [(EPOCH_DAY0 + 2, 3)]


async def test_migration_backfills_daily_counts(seeded: Store, backend: Backend) -> None:
    # What audit_detail runs over an audit table written before it existed.
    dialect = schema.SQLITE if backend.name == "sqlite" else schema.POSTGRES
    [migration] = [m for m in schema.migrations(dialect) if m.name == "audit_detail"]
    [fill] = [s for s in migration.statements if isinstance(s, str) and s.startswith("INSERT INTO audit_daily")]
    maintained = await seeded.count_daily(("day", "client", "method", "result"))
    await backend.raw("DELETE FROM audit_daily")
    await backend.raw(fill)
    assert await seeded.count_daily(("day", "client", "method", "result")) == maintained


async def test_daily_refuses_unknown_groups(store: Store) -> None:
    with pytest.raises(ValueError, match="daily counts"):
        await store.count_daily(("user",))


async def test_housekeeping_keeps_audit_keep_days(seeded: Store, tmp_path: Path) -> None:
    # service/app.py's once-a-minute purge, with [audit] keep_days (and the
    # deprecated [store] audit_retention_days, still honoured).
    (tmp_path / "keep.toml").write_text("[audit]\nkeep_days = 1\n")
    await purge_once(seeded, load(tmp_path / "keep.toml"), now=DAY0 + timedelta(days=2, hours=2))
    assert [r.request_id for r in await seeded.query_audit()] == ["r5", "r6", "r7", "r8", "r9"]
    assert await seeded.count_daily(("day",)) == [(EPOCH_DAY0 + 1, 3), (EPOCH_DAY0 + 2, 3)]
    (tmp_path / "old.toml").write_text("[store]\naudit_retention_days = 1\n")
    await purge_once(seeded, load(tmp_path / "old.toml"), now=DAY0 + timedelta(days=3, hours=2))
    assert [r.request_id for r in await seeded.query_audit()] == ["r8", "r9"]


async def test_method_names_migration_renames_otp_and_empty_methods(store: Store, backend: Backend) -> None:
    # Rows written before one vocabulary: a code said "otp", a reject before
    # any factor said "". They are read as "totp" and "none" from then on.
    await store.write_audit([
        row(20, 1, "alice", "accept", factor="otp"),
        row(21, 2, "bob", "reject", factor=""),
        row(22, 3, "alice", "reject", factor="totp"),
        row(23, 4, "carol", "accept", factor="otp", client="asa"),
    ])
    dialect = schema.SQLITE if backend.name == "sqlite" else schema.POSTGRES
    [migration] = [m for m in schema.migrations(dialect) if m.name == "audit_method_names"]
    for step in migration.statements:
        assert isinstance(step, str)
        await backend.raw(step)
    assert [r.factor for r in await store.query_audit()] == ["totp", "none", "totp", "totp"]
    assert [r.request_id for r in await store.query_audit(method="totp")] == ["r20", "r22", "r23"]
    assert await store.count_daily(("client", "method", "result")) == [
        ("asa", "totp", "accept", 1), ("vpn1", "none", "reject", 1),
        ("vpn1", "totp", "accept", 1), ("vpn1", "totp", "reject", 1),
    ]
    assert await store.count_daily(("method",)) == [("none", 1), ("totp", 3)]


async def test_a_phone_filter_may_list_the_full_and_the_masked_number(store: Store) -> None:
    await store.write_audit([
        row(30, 1, "alice", "accept", factor="sms", phone="+14155550100"),
        row(31, 2, "alice", "accept", factor="sms", phone="•••0100"),
        row(32, 3, "bob", "accept", factor="sms", phone="+14155550111"),
    ])
    both = await store.query_audit(phone=("+14155550100", "•••0100"))
    assert [r.request_id for r in both] == ["r30", "r31"]
    assert await store.count_audit(AuditFilter(phone=("+14155550100", "•••0100")), ("user",)) == [("alice", 2)]


async def test_sqlite_plan_of_the_phone_filter_uses_the_partial_index(tmp_path: Path) -> None:
    # audit_phone holds only rows with a phone: the filter's own SQL must say
    # so for SQLite to use it.
    store = await open_store("sqlite:///radmfa.db", key_file=tmp_path / "k", base_dir=tmp_path)
    try:
        await store.write_audit(SEED)
    finally:
        await store.close()
    where, args = audit_where(AuditFilter(since=DAY0, phone=("+14155550100", "+1415***0100")))
    db = sqlite3.connect(tmp_path / "radmfa.db")
    try:
        sql = f"EXPLAIN QUERY PLAN SELECT * FROM audit WHERE {' AND '.join(where)} ORDER BY time, id"  # noqa: S608 (terms from audit_where)
        plan = " ".join(str(r[-1]) for r in db.execute(sql, args))
    finally:
        db.close()
    assert "USING INDEX audit_phone" in plan, plan


async def test_an_empty_phone_filter_finds_the_rows_without_one(seeded: Store) -> None:
    # Outside the partial index: found by a scan, not lost.
    everything = await seeded.query_audit()
    assert await seeded.query_audit(phone="") == [r for r in everything if r.phone == ""]
    assert await seeded.query_audit(phone=("", "+14155550100")) == [
        r for r in everything if r.phone in ("", "+14155550100")
    ]


def test_daily_counts_of_a_one_day_batch_as_of_any_batch() -> None:
    # A batch within one UTC day is counted by another path than one spanning days.
    values = AuditSql._audit_values(SEED)
    day0 = [v for v in values if epoch_day(from_epoch(v[0])) == EPOCH_DAY0]  # type: ignore[arg-type]
    assert len(day0) > 1 and len(day0) < len(values)
    for batch in (day0, values):
        counted = Counter((int(v[0] // DAY), v[2], v[6], v[7]) for v in batch)  # type: ignore[operator]
        assert daily_counts(batch) == [(*key, n) for key, n in sorted(counted.items())]

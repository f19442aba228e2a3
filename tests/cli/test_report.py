from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from radmfa.core.admin_ports import Store
from radmfa.core.model import AuditRecord
from radmfa.reports import rows as reports
from tests.cli.conftest import Radmfa, assert_one_line_error

NOW = datetime.now(UTC).replace(microsecond=0)


def record(minutes_ago: int, user: str, result: str = "accept", **kw: object) -> AuditRecord:
    fields: dict[str, object] = {
        "time": NOW - timedelta(minutes=minutes_ago),
        "request_id": f"req-{user}-{minutes_ago}",
        "client_name": "vpn1",
        "client_ip": "10.0.0.1",
        "username": user,
        "calling_station_id": "198.51.100.7",
        "factor": "totp",
        "result": result,
        "reason": "totp ok" if result == "accept" else "wrong code",
        "duration_ms": 12.345,
    }
    fields.update(kw)
    return AuditRecord(**fields)  # type: ignore[arg-type]


ROWS = [
    record(60 * 24 * 3, "alice"),  # three days ago
    record(90, "bob", "reject"),
    record(30, "alice"),
    record(5, "bob"),
]


@pytest.fixture
def audited(radmfa: Radmfa) -> Radmfa:
    async def work(store: Store) -> None:
        await store.write_audit(ROWS)

    radmfa.store(work)
    return radmfa


def read_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_csv_has_header_and_every_row(audited: Radmfa) -> None:
    result = audited("report", "auth", "--format", "csv")
    assert result.status == 0, result.err
    rows = read_csv(result.out)
    assert rows[0] == ["time", "request_id", "client", "client_ip", "user",
                       "calling_station_id", "factor", "result", "reason", "ms",
                       "user_ip", "phone", "device", "first_name", "last_name", "email",
                       "server", "server_ip"]
    assert [r[1] for r in rows[1:]] == [r.request_id for r in ROWS]  # oldest first
    bob_reject = rows[2]
    assert bob_reject[2:10] == ["vpn1", "10.0.0.1", "bob", "198.51.100.7", "totp", "reject",
                                "wrong code", "12.3"]
    assert bob_reject[0] == reports.format_time(ROWS[1].time)


def test_filters(audited: Radmfa) -> None:
    def ids(*argv: str) -> list[str]:
        result = audited("report", "auth", "--format", "csv", *argv)
        assert result.status == 0, result.err
        return [r[1] for r in read_csv(result.out)[1:]]

    assert ids("--user", "alice") == ["req-alice-4320", "req-alice-30"]
    assert ids("--since", "24h") == ["req-bob-90", "req-alice-30", "req-bob-5"]
    assert ids("--since", "1d", "--user", "bob", "--limit", "1") == ["req-bob-5"]  # the newest
    until = (NOW - timedelta(minutes=60)).isoformat()
    assert ids("--until", until) == ["req-alice-4320", "req-bob-90"]


def test_table_is_aligned(audited: Radmfa) -> None:
    result = audited("report", "auth", "--user", "bob", "--wide")
    lines = result.out.splitlines()
    assert lines[0].split() == list(reports.AUTH_COLUMNS)
    assert len(lines) == 4
    starts = {line.index(" vpn1 ") for line in lines[2:]}
    assert len(starts) == 1


def test_empty_report(radmfa: Radmfa) -> None:
    assert radmfa("report", "auth").out.strip() == "no authentications match"
    assert read_csv(radmfa("report", "auth", "--format", "csv").out) == [
        list(reports.AUTH_COLUMNS)
    ]


def test_control_characters_are_escaped(radmfa: Radmfa) -> None:
    async def work(store: Store) -> None:
        await store.write_audit([record(1, "evil\x1b]0;owned\x07")])

    radmfa.store(work)
    for fmt in ("table", "csv"):
        out = radmfa("report", "auth", "--format", fmt).out
        assert "\x1b" not in out and "\x07" not in out
        assert "evil\\x1b]0;owned\\x07" in out


@pytest.mark.parametrize("argv", [("--since", "yesterday"), ("--limit", "0"),
                                  ("--since", "1h", "--until", "2h")])
def test_bad_bounds_are_usage_errors(radmfa: Radmfa, argv: tuple[str, ...]) -> None:
    assert_one_line_error(radmfa("report", "auth", *argv), status=2)


# -- reports.parse_when (pure) -----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", NOW - timedelta(seconds=90)),
        ("30m", NOW - timedelta(minutes=30)),
        ("24h", NOW - timedelta(hours=24)),
        ("7d", NOW - timedelta(days=7)),
        ("2w", NOW - timedelta(weeks=2)),
        ("2024-05-01", datetime(2024, 5, 1, tzinfo=UTC)),
        ("2024-05-01T13:30", datetime(2024, 5, 1, 13, 30, tzinfo=UTC)),
        ("2024-05-01 13:30:05", datetime(2024, 5, 1, 13, 30, 5, tzinfo=UTC)),
        ("2024-05-01T15:30+02:00", datetime(2024, 5, 1, 13, 30, tzinfo=UTC)),
    ],
)
def test_parse_when(text: str, expected: datetime) -> None:
    when = reports.parse_when(text, now=NOW)
    assert when == expected and when.tzinfo is not None


@pytest.mark.parametrize("text", ["", "yesterday", "24", "h", "-1d", "1y", "2024-13-01"])
def test_parse_when_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="not a time"):
        reports.parse_when(text, now=NOW)


def test_auth_rows_shape() -> None:
    (row,) = reports.auth_rows([record(0, "bob", duration_ms=0.04)])
    assert len(row) == len(reports.AUTH_COLUMNS)
    assert str(row[0]).endswith("Z") and row[9] == 0.0


def test_report_admin_lists_changes_as_csv(radmfa: Radmfa) -> None:
    radmfa("user", "add", "zoe", "--mobile", "+14155550100")
    radmfa("token", "add", "zoe", "--type", "totp")
    result = radmfa("report", "admin", "--format", "csv")
    assert result.status == 0, result.err
    rows = list(csv.reader(io.StringIO(result.out)))
    assert rows[0] == ["time", "actor", "action", "target", "detail"]
    assert [(r[2], r[3]) for r in rows[1:]] == [("user.add", "zoe"), ("token.add", "zoe")]
    assert "mobile=+14155550100" in rows[1][4]
    assert radmfa("report", "admin", "--limit", "1").out.count("token.add") == 1

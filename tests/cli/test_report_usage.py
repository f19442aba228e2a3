"""`radmfa report auth` filters, `report usage` (tables, CSV, JSON, the chart) and CSV safety."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from radmfa.core.admin_ports import Store
from tests.cli.conftest import Radmfa, assert_one_line_error
from tests.store.test_reports import SEED, row


@pytest.fixture
def audited(radmfa: Radmfa) -> Radmfa:
    async def work(store: Store) -> None:
        await store.write_audit(SEED)

    radmfa.store(work)
    return radmfa


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def ids(radmfa: Radmfa, *argv: str) -> list[str]:
    result = radmfa("report", "auth", "--format", "csv", *argv)
    assert result.status == 0, result.err
    return [r["request_id"] for r in csv_rows(result.out)]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ((), [f"r{n}" for n in range(10)]),
        (("--user", "bob"), ["r1", "r3", "r6", "r8", "r9"]),
        (("--user", "bob", "--result", "reject"), ["r1", "r6", "r9"]),
        (("--user", "bob", "--result", "reject", "--client", "asa"), ["r1", "r9"]),
        (("--phone", "+14155550111"), ["r3", "r9"]),
        (("--method", "voice"), ["r2", "r4"]),
        (("--method", "voice", "--result", "accept"), ["r4"]),
        (("--client", "asa", "--method", "push"), ["r5"]),
        (("--since", "2030-03-02", "--until", "2030-03-03"), ["r4", "r5", "r6"]),
        (("--since", "2030-03-02", "--result", "reject", "--client", "vpn1"), ["r6"]),
        (("--until", "2030-03-02", "--phone", "+14155550100"), ["r2"]),
        (("--result", "challenge"), ["r8"]),
        (("--user", "carol", "--method", "totp"), ["r7"]),
        (("--user", "carol", "--method", "sms"), []),
    ],
)
def test_auth_filters(audited: Radmfa, argv: tuple[str, ...], expected: list[str]) -> None:
    assert ids(audited, *argv) == expected


def test_auth_csv_round_trips_every_field(audited: Radmfa) -> None:
    (alice,) = csv_rows(audited("report", "auth", "--format", "csv", "--phone", "+14155550100",
                                "--result", "reject").out)
    assert alice == {
        "time": "2030-03-01T03:00:00.000Z", "request_id": "r2", "client": "vpn1", "client_ip": "192.0.2.1",
        "user": "alice", "calling_station_id": "198.51.100.7", "factor": "voice", "result": "reject",
        "reason": "wrong code", "ms": "1.5", "user_ip": "198.51.100.7", "phone": "+14155550100", "device": "",
        "first_name": "Alice", "last_name": "Liddell", "email": "alice@example.com", "server": "mfa1",
        "server_ip": "192.0.2.10",
    }


def test_csv_quotes_and_defuses_hostile_cells(radmfa: Radmfa) -> None:
    nasty = ['=HYPERLINK("http://x")', "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0", "@SUM(A1)",
             'a,"b"\nc', "plain", "+14155550100", "-1.5"]

    async def work(store: Store) -> None:
        await store.write_audit([row(n, n, name, "accept") for n, name in enumerate(nasty)])

    radmfa.store(work)
    out = radmfa("report", "auth", "--format", "csv").out
    assert out.splitlines()[0].endswith("server_ip") and "\r\n" in out  # RFC 4180 line ends
    users = [r["user"] for r in csv_rows(out)]
    assert users == ["'" + n for n in nasty[:4]] + ['a,"b"\\nc', "plain", "+14155550100", "-1.5"]


def test_auth_json(audited: Radmfa) -> None:
    data = json.loads(audited("report", "auth", "--format", "json", "--user", "carol").out)
    assert [(d["request_id"], d["result"], d["device"]) for d in data] == [
        ("r5", "reject", "ntfy:abc"), ("r7", "accept", "")
    ]


def test_usage_by_day(audited: Radmfa) -> None:
    out = audited("report", "usage", "--format", "csv").out
    assert [tuple(r.values()) for r in csv_rows(out)] == [
        ("2030-03-01", "sms", "1", "0", "0", "0", "1"),
        ("2030-03-01", "totp", "1", "1", "0", "0", "2"),
        ("2030-03-01", "voice", "0", "1", "0", "0", "1"),
        ("2030-03-02", "push", "0", "1", "0", "0", "1"),
        ("2030-03-02", "totp", "0", "1", "0", "0", "1"),
        ("2030-03-02", "voice", "1", "0", "0", "0", "1"),
        ("2030-03-03", "sms", "0", "1", "0", "0", "1"),
        ("2030-03-03", "totp", "1", "0", "1", "0", "2"),
    ]
    assert list(csv_rows(out)[0]) == ["day", "method", "accept", "reject", "challenge", "drop", "total"]


def test_usage_by_client_and_top_users(audited: Radmfa) -> None:
    by_client = json.loads(audited("report", "usage", "--by", "client", "--format", "json").out)
    assert by_client == [
        {"client": "asa", "accept": 1, "reject": 3, "challenge": 0, "drop": 0, "total": 4},
        {"client": "vpn1", "accept": 3, "reject": 2, "challenge": 1, "drop": 0, "total": 6},
    ]
    top = json.loads(audited("report", "usage", "--by", "user", "--top", "2", "--format", "json").out)
    assert top == [{"user": "bob", "failures": 3}, {"user": "alice", "failures": 1}]
    ranged = audited("report", "usage", "--by", "user", "--since", "2030-03-02", "--client", "vpn1",
                     "--format", "csv").out
    assert [tuple(r.values()) for r in csv_rows(ranged)] == [("bob", "1")]
    table = audited("report", "usage", "--by", "client").out.splitlines()
    assert table[0].split() == ["client", "accept", "reject", "challenge", "drop", "total"]
    assert table[2].split() == ["asa", "1", "3", "0", "0", "4"]


def test_usage_chart_is_an_svg_with_a_bar_per_day_and_result(audited: Radmfa, tmp_path: Path) -> None:
    out = tmp_path / "usage.svg"
    result = audited("report", "usage", "--chart", str(out), "--until", "2030-03-03")
    assert result.status == 0, result.err
    root = ET.parse(out).getroot()  # noqa: S314 (our own output) — well-formed XML
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    bars = [
        (b.get("data-day"), b.get("data-result"), int(b.get("data-count") or 0))
        for b in root.iter("{http://www.w3.org/2000/svg}rect")
        if b.get("class") == "bar"
    ]
    assert sorted(bars) == [
        ("2030-03-01", "accept", 2), ("2030-03-01", "reject", 2),
        ("2030-03-02", "accept", 1), ("2030-03-02", "reject", 2),
    ]
    heights = {(b.get("data-day"), b.get("data-result")): float(b.get("height") or 0)
               for b in root.iter("{http://www.w3.org/2000/svg}rect") if b.get("class") == "bar"}
    assert heights[("2030-03-01", "reject")] == pytest.approx(2 * heights[("2030-03-02", "accept")])


def test_usage_chart_refuses_other_formats(audited: Radmfa, tmp_path: Path) -> None:
    line = assert_one_line_error(audited("report", "usage", "--chart", str(tmp_path / "x.png")), status=2)
    assert "SVG" in line and not (tmp_path / "x.png").exists()


def test_empty_usage(radmfa: Radmfa, tmp_path: Path) -> None:
    assert radmfa("report", "usage").out.strip() == "no authentications match"
    chart = tmp_path / "empty.svg"
    result = radmfa("report", "usage", "--chart", str(chart))
    assert result.status == 0 and result.err == f"chart written to {chart}\n"
    assert "No sign-in decisions" in chart.read_text() and ET.parse(chart).getroot() is not None  # noqa: S314


def chart_days(path: Path) -> tuple[list[str], str]:
    root = ET.parse(path).getroot()  # noqa: S314 (our own output)
    days = [e.get("data-day") or "" for e in root.iter() if e.get("class") == "day"]
    (title,) = ["".join(e.itertext()) for e in root.iter() if e.get("class") == "chart-title"]
    return days, title


def test_usage_chart_draws_the_asked_range_and_says_where_it_went(audited: Radmfa, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = audited("report", "usage", "--since", "2030-02-27", "--until", "2030-03-05", "--chart", "u.svg",
                     "--format", "json")
    assert result.status == 0 and result.err == f"chart written to {tmp_path / 'u.svg'}\n"
    json.loads(result.out)  # the note is not in the JSON
    days, title = chart_days(tmp_path / "u.svg")
    assert days == ["2030-02-27", "2030-02-28", "2030-03-01", "2030-03-02", "2030-03-03", "2030-03-04"]
    assert "2030-02-27 to 2030-03-04" in title and "6 days" in title
    # Without --since the chart starts on the first day with rows.
    assert audited("report", "usage", "--until", "2030-03-03", "--chart", "v.svg").status == 0
    days, title = chart_days(tmp_path / "v.svg")
    assert days == ["2030-03-01", "2030-03-02"] and "2030-03-01 to 2030-03-02" in title




def test_usage_counts_whole_days(audited: Radmfa) -> None:
    # 2030-03-02's rows are at 01:00-03:00: a --since at noon still counts that whole day.
    by_day = csv_rows(audited("report", "usage", "--since", "2030-03-02T12:00", "--format", "csv").out)
    assert sorted({r["day"] for r in by_day}) == ["2030-03-02", "2030-03-03"]
    top = json.loads(audited("report", "usage", "--by", "user", "--since", "2030-03-02T12:00",
                             "--format", "json").out)
    assert top == [{"user": "bob", "failures": 1}]  # --by user counts exactly: only r9

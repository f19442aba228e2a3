"""`radmfa report bypass`: created, used, expired or cancelled, by whom and why.

The bypass table comes with the admin's controls (issue 5); these tests give
the store a ``list_bypasses`` shaped like theirs, so the report is checked
now and keeps working once the real one is there.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from radmfa import reports
from radmfa.store.sql import SqlStore
from tests.cli.conftest import Radmfa, assert_one_line_error

NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass(frozen=True, slots=True)
class Bypass:  # the fields of issue 5's core.model.Bypass
    id: int
    user_id: int
    username: str
    reason: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    cancelled_at: datetime | None = None
    used_at: datetime | None = None
    used_client: str | None = None
    used_station: str | None = None


DAY = timedelta(days=1)
BYPASSES = [
    Bypass(1, 1, "alice", "lost phone", "helpdesk1", NOW - 3 * DAY, NOW - 3 * DAY + timedelta(minutes=5),
           used_at=NOW - 3 * DAY + timedelta(minutes=2), used_client="vpn1", used_station="198.51.100.7"),
    Bypass(2, 2, "bob", "new phone, app not set up", "helpdesk2", NOW - 2 * DAY, NOW - 2 * DAY + timedelta(hours=1)),
    Bypass(3, 1, "alice", "=cmd|' /C calc'!A0", "helpdesk1", NOW - DAY, NOW + DAY, cancelled_at=NOW - DAY / 2),
    Bypass(4, 2, "bob", "travelling", "helpdesk1", NOW - timedelta(minutes=1), NOW + timedelta(hours=1)),
]


@pytest.fixture
def with_bypasses(radmfa: Radmfa, monkeypatch: pytest.MonkeyPatch) -> Radmfa:
    async def list_bypasses(self: SqlStore, username: str | None = None) -> list[Bypass]:
        return [b for b in BYPASSES if username is None or b.username == username]

    monkeypatch.setattr(SqlStore, "list_bypasses", list_bypasses, raising=False)
    return radmfa


def rows(radmfa: Radmfa, *argv: str) -> list[dict[str, str]]:
    result = radmfa("report", "bypass", "--format", "csv", *argv)
    assert result.status == 0, result.err
    return list(csv.DictReader(io.StringIO(result.out)))


def test_every_state_and_field(with_bypasses: Radmfa) -> None:
    found = rows(with_bypasses)
    assert [(r["id"], r["status"]) for r in found] == [("1", "used"), ("2", "expired"), ("3", "cancelled"),
                                                      ("4", "open")]
    assert found[0] == {
        "id": "1", "created": reports.format_time(NOW - 3 * DAY), "user": "alice", "reason": "lost phone",
        "created_by": "helpdesk1", "expires": reports.format_time(NOW - 3 * DAY + timedelta(minutes=5)),
        "status": "used", "used": reports.format_time(NOW - 3 * DAY + timedelta(minutes=2)), "used_client": "vpn1",
        "used_station": "198.51.100.7", "cancelled": "",
    }
    assert found[2]["reason"] == "'=cmd|' /C calc'!A0"  # a reason typed by a person is still defused


@pytest.mark.parametrize(
    ("argv", "ids"),
    [
        (("--user", "bob"), [2, 4]),
        (("--status", "open"), [4]),
        (("--status", "expired", "--user", "bob"), [2]),
        (("--since", "36h"), [3, 4]),
        (("--until", "36h"), [1, 2]),
        (("--since", "4d", "--until", "1h", "--user", "alice"), [1, 3]),
    ],
)
def test_filters(with_bypasses: Radmfa, argv: tuple[str, ...], ids: list[int]) -> None:
    data = json.loads(with_bypasses("report", "bypass", "--format", "json", *argv).out)
    assert [d["id"] for d in data] == ids


def test_without_the_bypass_table_it_says_so(radmfa: Radmfa, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(SqlStore, "list_bypasses", raising=False)
    assert "no one-time bypasses" in assert_one_line_error(radmfa("report", "bypass"))

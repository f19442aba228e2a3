"""`radmfa report bypass`: created, used, expired or cancelled, by whom and why."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from radmfa.core.admin_ports import Store
from radmfa.core.model import Bypass, NewUser
from radmfa.reports import rows as reports
from tests.cli.conftest import Radmfa

NOW = datetime.now(UTC).replace(microsecond=0)
DAY = timedelta(days=1)


@pytest.fixture
def with_bypasses(radmfa: Radmfa) -> Radmfa:
    """Four real bypasses in the store: used, expired, cancelled, open."""

    async def work(store: Store) -> list[Bypass]:
        alice = await store.add_user(NewUser("alice"))
        await store.add_user(NewUser("bob"))
        first = await store.create_bypass(
            "alice", seconds=300, reason="lost phone", created_by="helpdesk1", now=NOW - 3 * DAY
        )
        used = await store.consume_bypass(
            alice.id, client="vpn1", station="198.51.100.7", now=NOW - 3 * DAY + timedelta(minutes=2)
        )
        assert used is not None and used.id == first.id
        await store.create_bypass(
            "bob", seconds=3600, reason="new phone, app not set up", created_by="helpdesk2", now=NOW - 2 * DAY
        )
        third = await store.create_bypass(
            "alice", seconds=2 * 86400, reason="=cmd|' /C calc'!A0", created_by="helpdesk1", now=NOW - DAY
        )
        assert await store.cancel_bypass(third.id, now=NOW - DAY / 2) is not None
        await store.create_bypass(
            "bob", seconds=3600, reason="travelling", created_by="helpdesk1", now=NOW - timedelta(minutes=1)
        )
        return await store.list_bypasses()

    assert [b.id for b in radmfa.store(work)] == [1, 2, 3, 4]
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

"""One CLI: the documented exit statuses, one sentence for a missing user,
`--version`, the same optional user on every list, machine-readable JSON,
a report that fits a terminal, and a false alarm that says how to unblock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from importlib.metadata import version

import pytest

from radmfa.cli.main import build_parser
from radmfa.core.admin_ports import Store
from radmfa.core.model import AuditRecord, FraudReport, UserState
from tests.cli.conftest import Radmfa, assert_one_line_error
from tests.cli.test_main import leaf_commands

SEED = "AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQT"


@pytest.mark.parametrize("path", [path for path, _ in leaf_commands(build_parser())], ids=" ".join)
def test_every_command_answers_a_wrong_option_with_status_2(radmfa: Radmfa, path: tuple[str, ...]) -> None:
    line = assert_one_line_error(radmfa(*path, "--no-such-option"), status=2)
    assert "--no-such-option" in line or "required" in line, line


MISSING_USER = [
    ("user", "set", "ghost", "--first", "G"),
    ("user", "show", "ghost"),
    ("user", "delete", "ghost"),
    ("user", "passwd", "ghost"),
    ("user", "unblock", "ghost"),
    ("user", "reset", "ghost"),
    ("token", "add", "ghost"),
    ("token", "list", "ghost"),
    ("token", "assign", "HW-1", "ghost"),
    ("bypass", "create", "ghost", "--seconds", "60", "--reason", "INC-1"),
    ("bypass", "list", "ghost"),
    ("apppass", "create", "ghost", "--name", "Laptop"),
    ("apppass", "list", "ghost"),
    ("apppass", "delete", "ghost", "--all"),
    ("device", "list", "ghost"),
    ("device", "forget", "ghost", "--all"),
    ("fraud", "record", "ghost", "--reason", "a call she did not start"),
    ("message", "preview", "sms", "--user", "ghost"),
]


@pytest.mark.parametrize("argv", MISSING_USER, ids=" ".join)
def test_a_missing_user_is_one_sentence_everywhere(radmfa: Radmfa, argv: tuple[str, ...]) -> None:
    assert assert_one_line_error(radmfa(*argv), status=1) == "radmfa: error: no such user: ghost"


def test_unblocking_a_user_who_is_not_blocked_is_no_error(radmfa: Radmfa) -> None:
    assert radmfa("user", "add", "alice", "--state", "enforced").status == 0
    result = radmfa("user", "unblock", "alice")
    assert result.status == 0 and result.err == ""
    assert 'user "alice" is not blocked (state enforced); nothing to do' in result.out
    assert "state:     enforced" in radmfa("user", "show", "alice").out


def test_version(radmfa: Radmfa) -> None:
    result = radmfa("--version")
    assert result.status == 0 and result.out == f"radmfa {version('radmfa')}\n"


def test_token_add_makes_a_totp_token_by_default(radmfa: Radmfa) -> None:
    assert radmfa("user", "add", "alice").status == 0
    result = radmfa("token", "add", "alice")
    assert result.status == 0, result.err
    assert result.out.startswith('added totp token for user "alice"') and "otpauth://totp/" in result.out


@pytest.fixture
def two_users(radmfa: Radmfa) -> Radmfa:
    for name in ("alice", "bob"):
        assert radmfa("user", "add", name).status == 0
        assert radmfa("token", "add", name).status == 0
        assert radmfa("bypass", "create", name, "--seconds", "600", "--reason", f"INC-{name}").status == 0
        assert radmfa("apppass", "create", name, "--name", "Laptop").status == 0

    async def remember(store: Store) -> None:
        for name in ("alice", "bob"):
            user = await store.get_user(name)
            assert user is not None
            await store.record_mfa_success(user.id, scopes=[], station=f"192.0.2.{len(name)}", client="vpn1",
                                           now=datetime.now(UTC))

    radmfa.store(remember)
    return radmfa


@pytest.mark.parametrize("group", ["token", "bypass", "apppass", "device"])
def test_every_list_takes_an_optional_user(two_users: Radmfa, group: str) -> None:
    def users(*argv: str) -> list[str]:
        result = two_users(group, "list", *argv, "--format", "json")
        assert result.status == 0, result.err
        return sorted(row["user"] for row in json.loads(result.out))

    assert users() == ["alice", "bob"]
    assert users("bob") == ["bob"]
    assert users("--user", "bob") == ["bob"]
    line = assert_one_line_error(two_users(group, "list", "alice", "--user", "bob"), status=2)
    assert "alice" in line and "bob" in line


NOW = datetime.now(UTC).replace(microsecond=0)


def audit_row(n: int, user: str, reason: str) -> AuditRecord:
    return AuditRecord(
        time=NOW - timedelta(minutes=10 - n), request_id=f"host-1234-{n:x}", client_name="vpn-concentrator-1",
        client_ip="192.0.2.10", username=user, calling_station_id="198.51.100.7", factor="sms", result="reject",
        reason=reason, duration_ms=1234.567, phone="+14155550123", device="", user_ip="198.51.100.7",
        server_name="mfa-node-1.example.com", server_ip="192.0.2.5",
    )


@pytest.fixture
def audited(radmfa: Radmfa) -> Radmfa:
    rows = [
        audit_row(0, "alice", "wrong code"),
        audit_row(1, "CORP\\a.very-long-user-name-from-the-directory@corp.example.com", "rate-limited:user"),
        audit_row(2, "bob", "new-user: password only until enrolled, and then some more words"),
    ]

    async def work(store: Store) -> None:
        await store.write_audit(rows)

    radmfa.store(work)
    return radmfa


def test_report_auth_fits_80_columns_and_wide_shows_everything(
    audited: Radmfa, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    narrow = audited("report", "auth")
    assert narrow.status == 0, narrow.err
    lines = narrow.out.splitlines()
    assert lines[0].split() == ["time", "user", "client", "factor", "result", "reason"]
    assert len(lines) == 5 and all(len(line) <= 80 for line in lines), "\n".join(lines)
    assert "wrong code" in narrow.out and "…" in narrow.out  # the long ones are cut, visibly
    wide = audited("report", "auth", "--wide")
    assert wide.status == 0 and wide.out.splitlines()[0].split()[:3] == ["time", "request_id", "client"]
    assert "CORP\\a.very-long-user-name-from-the-directory@corp.example.com" in wide.out
    assert "+14155550123" in wide.out and "mfa-node-1.example.com" in wide.out
    monkeypatch.setenv("COLUMNS", "120")
    assert max(len(line) for line in audited("report", "auth").out.splitlines()) > 80


def test_json_numbers_are_numbers(audited: Radmfa) -> None:
    assert audited("user", "add", "alice").status == 0
    assert audited("token", "add", "alice").status == 0
    assert audited("bypass", "create", "alice", "--seconds", "60", "--reason", "INC-1").status == 0
    auth = json.loads(audited("report", "auth", "--format", "json").out)
    assert auth[0]["ms"] == 1234.6
    (token,) = json.loads(audited("token", "list", "--format", "json").out)
    assert (token["id"], token["digits"], token["period"]) == (1, 6, 30)
    (user,) = json.loads(audited("user", "list", "--format", "json").out)
    assert user["tokens"] == 1
    (bypass,) = json.loads(audited("bypass", "list", "--format", "json").out)
    assert bypass["id"] == 1
    (usage,) = json.loads(audited("report", "usage", "--format", "json").out)
    assert usage["reject"] == 3 and usage["total"] == 3


@pytest.fixture
def fraud_blocked(radmfa: Radmfa) -> Radmfa:
    assert radmfa("user", "add", "alice").status == 0

    async def report(store: Store) -> None:
        await store.add_fraud_report(FraudReport(NOW, "alice", "push", device="radmfa-alice-…"))
        await store.update_user("alice", {"state": UserState.BLOCKED, "blocked_reason": "fraud report 1",
                                          "blocked_until": NOW + timedelta(days=7)})

    radmfa.store(report)
    return radmfa


def test_a_false_alarm_on_a_blocked_user_says_how_to_unblock(fraud_blocked: Radmfa) -> None:
    result = fraud_blocked("fraud", "set-status", "1", "false-alarm")
    assert result.status == 0 and "fraud report 1 is now false-alarm" in result.out
    assert 'user "alice" is still blocked' in result.out
    assert "radmfa user unblock alice" in result.out and "--unblock" in result.out
    assert "state:     blocked" in fraud_blocked("user", "show", "alice").out


def test_a_false_alarm_can_unblock_at_once(fraud_blocked: Radmfa) -> None:
    result = fraud_blocked("fraud", "set-status", "1", "false-alarm", "--unblock")
    assert result.status == 0 and 'unblocked user "alice"' in result.out
    assert "state:     enabled" in fraud_blocked("user", "show", "alice").out
    actions = [e.action for e in fraud_blocked.store(lambda s: s.query_admin_events())]
    assert actions[-2:] == ["fraud.set-status", "user.unblock"]
    line = assert_one_line_error(fraud_blocked("fraud", "set-status", "1", "reviewed", "--unblock"), status=2)
    assert "--unblock" in line and "false-alarm" in line

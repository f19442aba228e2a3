"""`radmfa fraud list|set-status|record` and `radmfa report fraud`."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from radmfa.core.admin_model import AdminEvent
from radmfa.core.admin_ports import Store
from radmfa.core.model import FraudReport, User, UserState
from radmfa.delivery.webhook import SIGNATURE_HEADER
from tests.cli.conftest import MINIMAL_CONFIG, Radmfa, assert_one_line_error
from tests.peers.alerts import MailSink, WebhookReceiver, free_tcp_port

SECRET = b"webhook-secret-42"

T0 = datetime(2030, 5, 1, 8, 0, tzinfo=UTC)

REPORTS = [
    FraudReport(T0, "alice", "voice", "vpn1", "198.51.100.7", phone="+14155550100"),
    FraudReport(T0 + timedelta(days=1), "bob", "push", "asa", "198.51.100.8", device="ntfy:bob-1"),
    FraudReport(T0 + timedelta(days=2), "CORP\\Alice", "voice", "vpn1", "198.51.100.9", phone="+14155550100",
                status="reviewed"),
]


def seed(radmfa: Radmfa) -> None:
    async def work(store: Store) -> None:
        for report in REPORTS:
            await store.add_fraud_report(report)

    radmfa.store(work)


def listed(radmfa: Radmfa, *argv: str, command: tuple[str, ...] = ("fraud", "list")) -> list[dict[str, str]]:
    result = radmfa(*command, "--format", "csv", *argv)
    assert result.status == 0, result.err
    return list(csv.DictReader(io.StringIO(result.out)))


def test_list_filters(radmfa: Radmfa) -> None:
    seed(radmfa)
    assert [r["id"] for r in listed(radmfa)] == ["1", "2", "3"]
    assert [r["id"] for r in listed(radmfa, "--user", "ALICE@corp.example")] == ["1", "3"]
    assert [r["id"] for r in listed(radmfa, "--phone", "+14155550100", "--status", "new")] == ["1"]
    assert [r["id"] for r in listed(radmfa, "--since", "2030-05-02", "--until", "2030-05-03")] == ["2"]
    assert [r["id"] for r in listed(radmfa, "--source", "push")] == ["2"]
    assert [r["id"] for r in listed(radmfa, "--user", "alice", command=("report", "fraud"))] == ["1", "3"]
    first = listed(radmfa)[0]
    assert first == {"id": "1", "time": "2030-05-01T08:00:00.000Z", "user": "alice", "source": "voice",
                     "status": "new", "client": "vpn1", "calling_station_id": "198.51.100.7",
                     "phone": "+14155550100", "device": "", "note": ""}
    data = json.loads(radmfa("fraud", "list", "--format", "json", "--source", "push").out)
    assert data == [{"id": 2, "time": "2030-05-02T08:00:00.000Z", "user": "bob", "source": "push",
                     "status": "new", "client": "asa", "calling_station_id": "198.51.100.8", "phone": "",
                     "device": "ntfy:bob-1", "note": ""}]
    assert radmfa("fraud", "list", "--user", "nobody").out.strip() == "no fraud reports match"


def admin_events(radmfa: Radmfa) -> list[AdminEvent]:
    async def work(store: Store) -> list[AdminEvent]:
        return await store.query_admin_events()

    return radmfa.store(work)


def test_set_status(radmfa: Radmfa) -> None:
    seed(radmfa)
    result = radmfa("fraud", "set-status", "2", "false-alarm")
    assert result.status == 0 and "false-alarm" in result.out
    assert [r["status"] for r in listed(radmfa)] == ["new", "false-alarm", "reviewed"]
    assert [(e.action, e.target, e.detail) for e in admin_events(radmfa)] == [("fraud.set-status", "2", "false-alarm")]
    assert "no fraud report with id 9" in assert_one_line_error(radmfa("fraud", "set-status", "9", "reviewed"))
    assert_one_line_error(radmfa("fraud", "set-status", "2", "dunno"), status=2)
    assert len(admin_events(radmfa)) == 1  # failures record nothing


def get_user(radmfa: Radmfa, name: str) -> User | None:
    async def work(store: Store) -> User | None:
        return await store.get_user(name)

    return radmfa.store(work)


def test_record_blocks_the_user_and_logs(radmfa: Radmfa) -> None:
    radmfa("user", "add", "Carol")
    before = datetime.now(UTC)
    result = radmfa("fraud", "record", "carol", "--reason", "called helpdesk: push at 3am",
                    "--phone", "+1 415 555 0122", "--client", "vpn1")
    assert result.status == 0, result.err
    assert "recorded fraud report 1 for carol and blocked the user" in result.out
    (row,) = listed(radmfa)
    assert (row["user"], row["source"], row["phone"], row["client"], row["note"]) == (
        "carol", "admin", "+14155550122", "vpn1", "called helpdesk: push at 3am")
    user = get_user(radmfa, "carol")
    assert user is not None and user.state is UserState.BLOCKED and user.blocked_reason == "fraud"
    assert user.blocked_until is not None
    assert timedelta(days=89) < user.blocked_until - before < timedelta(days=91)  # [fraud] block_days = 90
    assert [(e.action, e.target) for e in admin_events(radmfa)][-1] == ("fraud.record", "Carol")


def test_record_refusals_change_nothing(radmfa: Radmfa) -> None:
    assert "no such user: ghost" in assert_one_line_error(radmfa("fraud", "record", "ghost", "--reason", "x"))
    radmfa("user", "add", "dave")
    assert_one_line_error(radmfa("fraud", "record", "dave", "--reason", "  "), status=2)
    assert_one_line_error(radmfa("fraud", "record", "dave", "--reason", "x", "--phone", "12"), status=2)
    assert_one_line_error(radmfa("fraud", "record", "dave"), status=2)
    assert listed(radmfa) == []
    user = get_user(radmfa, "dave")
    assert user is not None and user.state is UserState.ENABLED


def test_record_without_block_or_when_reports_are_off(radmfa: Radmfa, config_path: Path) -> None:
    radmfa("user", "add", "erin")
    config_path.write_text(MINIMAL_CONFIG + "\n[fraud]\nblock_user = false\n")
    assert radmfa("fraud", "record", "erin", "--reason", "x").out.strip() == "recorded fraud report 1 for erin"
    user = get_user(radmfa, "erin")
    assert user is not None and user.state is UserState.ENABLED
    config_path.write_text(MINIMAL_CONFIG + "\n[fraud]\nallow_reports = false\n")
    assert "allow_reports" in assert_one_line_error(radmfa("fraud", "record", "erin", "--reason", "y"))
    assert len(listed(radmfa)) == 1


# -- notifications (real SMTP server and webhook receiver, tests/peers/alerts.py) -------

@pytest.mark.integration
def test_cli_record_notifies(radmfa: Radmfa, config_path: Path, mail_sink: MailSink,
                             webhook_receiver: WebhookReceiver) -> None:
    (config_path.parent / "hook.secret").write_bytes(SECRET + b"\n")
    config_path.write_text(MINIMAL_CONFIG + f"""
[smtp]
host = "{mail_sink.host}"
port = {mail_sink.port}
starttls = false
from = "radmfa@example.com"

[fraud]
notify_email = ["soc@example.com"]
notify_webhook = "{webhook_receiver.url}"
webhook_secret_file = "hook.secret"

[audit]
server_name = "mfa-cli"
""")
    radmfa("user", "add", "alice")
    result = radmfa("fraud", "record", "alice", "--reason", "reported by phone")
    assert result.status == 0, result.err
    assert "fraud reported" in result.err and "fraud reported" not in result.out
    (mail,) = mail_sink.mails
    assert "note: reported by phone" in mail.message.get_payload()
    (hook,) = webhook_receiver.hooks
    assert hook.json()["source"] == "admin" and hook.json()["server"] == "mfa-cli"
    assert hook.headers[SIGNATURE_HEADER] == "sha256=" + hmac.new(SECRET, hook.body, hashlib.sha256).hexdigest()


@pytest.mark.integration
def test_cli_record_says_when_the_alert_failed(radmfa: Radmfa, config_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("radmfa.cli.fraud.CLI_RETRY_PAUSES_S", (0.01,))
    config_path.write_text(MINIMAL_CONFIG + f"""
[fraud]
notify_webhook = "http://127.0.0.1:{free_tcp_port()}/hook"
""")
    radmfa("user", "add", "alice")
    result = radmfa("fraud", "record", "alice", "--reason", "x")
    assert result.status == 1
    assert "recorded fraud report 1" in result.out
    assert result.err.strip().splitlines()[-1].startswith("radmfa: error: fraud report 1 is recorded, but")



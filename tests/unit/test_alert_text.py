"""The fraud alert's mail text: what the security team reads and copies."""

from __future__ import annotations

import shlex
from datetime import UTC, datetime

from radmfa.core.model import FraudReport
from radmfa.delivery.alerts import mail_text, report_payload


def test_the_review_command_in_the_mail_is_safe_to_paste() -> None:
    # A directory name may hold spaces or shell characters; the command the
    # mail suggests must stay one argument when pasted into a shell.
    report = FraudReport(datetime(2030, 1, 1, tzinfo=UTC), "o'brien; rm -rf ~", "voice", id=7)
    subject, body = mail_text(report, server="mfa1")
    command = next(line for line in body.splitlines() if line.startswith("Review it with: "))
    argv = shlex.split(command.removeprefix("Review it with: "))
    assert argv == ["radmfa", "fraud", "list", "--user", "o'brien; rm -rf ~"]
    assert "\n" not in subject


def test_payload_times_are_utc_iso_and_carry_no_secret() -> None:
    report = FraudReport(datetime(2030, 1, 1, 12, tzinfo=UTC), "alice", "push", device="radmfa-alice", id=3)
    payload = report_payload(report, server="mfa1")
    assert payload["time"] == "2030-01-01T12:00:00Z" and payload["id"] == 3
    assert set(payload) == {
        "event", "id", "time", "user", "source", "client", "calling_station_id", "phone", "device", "status",
        "note", "server",
    }

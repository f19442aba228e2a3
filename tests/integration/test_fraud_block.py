"""Fraud reports end to end: a fraud code on a (fake Twilio) voice call and a push
"Deny and report fraud" (fake ntfy) each create a fraud record and, with
[fraud] block_user on, the next login is rejected with the audit reason
``blocked-fraud`` until ``radmfa user unblock`` (the real CLI) lifts it.

radclient (NAS) → radmfa (process) → fake Twilio / ntfy over real HTTP.
"""

from __future__ import annotations

import json

import pytest

from tests.integration.harness import Radmfa
from tests.integration.phone_env import add_user, make_server, peers  # noqa: F401  (peers is a fixture)
from tests.integration.test_controls import cli
from tests.integration.test_phone import MOBILE, OFFICE, login

pytestmark = pytest.mark.integration

BLOCKING = "[fraud]\nallow_reports = true\nblock_user = true\nblock_days = 90\n"


def reasons(server: Radmfa) -> list[str]:
    return [str(e.get("reason")) for e in server.events() if e.get("event") == "auth" and e.get("user") == "alice"]


def fraud_list(server: Radmfa) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = json.loads(cli(server, "fraud", "list", "--format", "json"))
    return rows


@pytest.mark.parametrize(("source", "key"), [("voice", "2"), ("push", "4")])
def test_fraud_report_blocks_next_login_until_unblock(radmfa_factory, peers, radclient, source, key):  # noqa: F811
    server = make_server(radmfa_factory, peers, extra_toml=BLOCKING)
    add_user(server, "alice", "alice-pw", mobile=MOBILE, office_phone=OFFICE, email="alice@example.com")
    peers.twilio.answer = "0#"  # the voice call's fraud code
    peers.ntfy.tap_label = "Deny and report fraud"
    with server:
        menu = login(radclient, server, "alice", "alice-pw")
        assert menu.code == "Access-Challenge"
        assert login(radclient, server, "alice", key, state=menu.get("State")).code == "Access-Reject"
        reports = fraud_list(server)
        assert [(r["user"], r["source"], r["status"]) for r in reports] == [("alice", source, "new")]

        # The right password is not enough now, and the phone is left alone.
        calls, pushes = len(peers.twilio.calls), len(peers.ntfy.published)
        assert login(radclient, server, "alice", "alice-pw").code == "Access-Reject"
        # the audit event is written after the reply is sent: wait for it, do not read the log at once
        assert server.wait_for_event("auth", user="alice", result="reject", reason="blocked-fraud")
        assert (len(peers.twilio.calls), len(peers.ntfy.published)) == (calls, pushes)

        cli(server, "user", "unblock", "alice")
        again = login(radclient, server, "alice", "alice-pw")
        assert again.code == "Access-Challenge"  # MFA as before: the menu, not a block
    assert reasons(server).count("blocked-fraud") == 1

"""Seed 002 through the real listener: every audit row of a text, call, push
or e-mail login names the number (in full or masked, per [audit]
destinations) or the device, and `radmfa report auth --phone` finds them.
radclient is the NAS; fake Twilio, ntfy and an SMTP sink are the providers."""

from __future__ import annotations

import json
import re

import pytest

from tests.integration.phone_env import (  # noqa: F401  (peers is a fixture)
    Background,
    add_user,
    cli,
    make_server,
    peers,
    wait_for,
)
from tests.integration.test_phone import MOBILE, OFFICE, login

pytestmark = pytest.mark.integration

TOPIC = "radmfa-alice-…"
PHONE_METHODS = ("menu", "sms", "voice")


def audit(server, *argv: str) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = json.loads(cli(server, "report", "auth", "--format", "json", *argv))
    return rows


def sign_in_every_way(server, peers, radclient) -> None:  # noqa: F811
    """alice's menu: 1 text, 2 call mobile, 3 call office, 4 push, 5 e-mail."""
    first = login(radclient, server, "alice", "alice-pw")
    asked = login(radclient, server, "alice", "1", state=first.get("State"))
    code = re.search(r"\d{6}", peers.twilio.messages[-1]["Body"]).group(0)  # type: ignore[union-attr]
    wrong = login(radclient, server, "alice", f"{(int(code) + 1) % 10**6:06d}", state=asked.get("State"))
    assert login(radclient, server, "alice", code, state=wrong.get("State")).code == "Access-Accept"

    peers.twilio.answer = "#"
    first = login(radclient, server, "alice", "alice-pw")
    assert login(radclient, server, "alice", "3", state=first.get("State")).code == "Access-Accept"
    peers.twilio.answer = "silence"
    first = login(radclient, server, "alice", "alice-pw")
    assert login(radclient, server, "alice", "2", state=first.get("State")).code == "Access-Reject"

    peers.ntfy.tap_label = "Approve"
    first = login(radclient, server, "alice", "alice-pw")
    assert login(radclient, server, "alice", "4", state=first.get("State")).code == "Access-Accept"

    first = login(radclient, server, "alice", "alice-pw")
    mailed = login(radclient, server, "alice", "5", state=first.get("State"))
    mail = wait_for(lambda: peers.smtp.messages and peers.smtp.messages[-1])
    mail_code = re.search(r"\d{6}", mail.get_payload()).group(0)  # type: ignore[union-attr, arg-type]
    assert login(radclient, server, "alice", mail_code, state=mailed.get("State")).code == "Access-Accept"

    peers.ntfy.tap_label = "Deny and report fraud"  # last: it blocks alice
    first = login(radclient, server, "alice", "alice-pw")
    assert login(radclient, server, "alice", "4", state=first.get("State")).code == "Access-Reject"


@pytest.fixture
def alice_server(radmfa_factory, peers):  # noqa: F811
    def make(destinations: str | None):
        extra = f'[audit]\ndestinations = "{destinations}"\n' if destinations else ""
        server = make_server(radmfa_factory, peers, extra_toml=extra)
        add_user(server, "alice", "alice-pw", mobile=MOBILE, office_phone=OFFICE, email="alice@example.com")
        return server

    return make


def test_every_row_of_a_phone_login_names_the_number_or_device(alice_server, peers, radclient):  # noqa: F811
    server = alice_server(None)
    with server:
        sign_in_every_way(server, peers, radclient)
    rows = audit(server, "--user", "alice")
    seen = [(r["factor"], r["reason"], r["phone"], r["device"]) for r in rows]
    assert seen == [
        ("menu", "menu sent", MOBILE, TOPIC),
        ("sms", "sms code sent", MOBILE, ""),
        ("sms", "wrong code", MOBILE, ""),
        ("sms", "password and code", MOBILE, ""),
        ("menu", "menu sent", MOBILE, TOPIC),
        ("voice", "voice approved", OFFICE, ""),
        ("menu", "menu sent", MOBILE, TOPIC),
        ("voice", "no key pressed", MOBILE, ""),
        ("menu", "menu sent", MOBILE, TOPIC),
        ("push", "push approved", "", TOPIC),
        ("menu", "menu sent", MOBILE, TOPIC),
        ("email", "email code sent", "", "alice@example.com"),
        ("email", "password and code", "", "alice@example.com"),
        ("menu", "menu sent", MOBILE, TOPIC),
        ("push", "fraud", "", TOPIC),
    ], seen
    by_mobile = audit(server, "--phone", "+1 415 555 0123")
    assert [r["request_id"] for r in by_mobile] == [r["request_id"] for r in rows if r["phone"] == MOBILE]
    assert [r["reason"] for r in audit(server, "--phone", OFFICE)] == ["voice approved"]


def test_masked_destinations_are_recorded_masked_and_still_found(alice_server, peers, radclient):  # noqa: F811
    server = alice_server("masked")
    peers.twilio.answer = "#"
    peers.ntfy.tap_label = "Approve"
    with server:
        first = login(radclient, server, "alice", "alice-pw")
        assert login(radclient, server, "alice", "2", state=first.get("State")).code == "Access-Accept"
        first = login(radclient, server, "alice", "alice-pw")
        mailed = login(radclient, server, "alice", "5", state=first.get("State"))
        assert mailed.code == "Access-Challenge"
        log = server.log_text()
    rows = audit(server, "--user", "alice")
    assert [(r["factor"], r["phone"], r["device"]) for r in rows] == [
        ("menu", "•••0123", TOPIC), ("voice", "•••0123", ""),
        ("menu", "•••0123", TOPIC), ("email", "", "a•••@example.com"),
    ]
    assert MOBILE not in log and "alice@example.com" not in log  # the auth log lines are masked too
    assert len(audit(server, "--phone", MOBILE)) == 3  # matched on the last four digits
    assert audit(server, "--phone", "+14155559999") == []

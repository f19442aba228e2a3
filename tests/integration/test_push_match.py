"""MFA-fatigue defences end to end: radclient as the NAS, FreeRADIUS as
the upstream, the fake ntfy as the phone tapping a number or Deny."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.fakes.server import free_tcp_port
from tests.integration.phone_env import (  # noqa: F401  (peers and hook are fixtures)
    NAS_SECRET,
    Background,
    add_user,
    cli,
    hook,
    make_server,
    peers,
    wait_for,
)
from tests.integration.test_foundation import upstream_cfg

pytestmark = pytest.mark.integration

USER_IP = "198.51.100.7"
MATCHING = '\n[clients.localhost]\nmode = "auto"\napp_name = "Corporate VPN"\npush_number_matching = true\n'


def login(radclient: Any, server: Any, password: str, state: str | None = None) -> Any:
    packet = {"User-Name": "alice", "User-Password": password, "Calling-Station-Id": USER_IP}
    if state is not None:
        packet["State"] = state
    return radclient(server.address, NAS_SECRET, [packet], timeout=60, retries=1)[0]


def shown_number(reply: Any) -> str:
    assert reply.code == "Access-Challenge", reply
    found = re.search(r"Your sign-in number is (\d\d)\.", reply.get("Reply-Message") or "")
    assert found, reply.get("Reply-Message")
    return found[1]


def test_a_wrong_number_rejects_and_the_shown_one_accepts(radmfa_factory, peers, freeradius_upstream,  # noqa: F811
                                                          radclient):
    server = make_server(radmfa_factory, peers, clients=MATCHING,
                         upstream=upstream_cfg(freeradius_upstream.address))
    add_user(server, "alice", None, mobile="+14155550123")
    with server:
        first = login(radclient, server, "alice-pw,push")
        state, number = first.get("State"), shown_number(first)
        message = peers.ntfy.published[-1]
        labels = [a["label"] for a in message["actions"]]
        assert len(set(labels)) == 3 and number in labels and all(re.fullmatch(r"[1-9]\d", x) for x in labels)
        assert "Corporate VPN" in message["message"] and f"from {USER_IP}" in message["message"]
        assert re.search(r"at \d{4}-\d\d-\d\d \d\d:\d\d UTC", message["message"])
        wrong = next(x for x in labels if x != number)
        held = Background(lambda: login(radclient, server, "", state=state))  # waits for the tap
        assert peers.ntfy.tap_now(message, wrong) == 200
        rejected = held.result()
        assert rejected.code == "Access-Reject"
        assert rejected.get("Reply-Message") == "The wrong number was chosen on the phone."
        assert peers.ntfy.tap_now(message, number) == 403  # decided once: the right one cannot undo it

        first = login(radclient, server, "alice-pw,push")
        number = shown_number(first)
        message = peers.ntfy.published[-1]
        assert peers.ntfy.tap_now(message, number) == 200
        assert login(radclient, server, "", state=first.get("State")).code == "Access-Accept"


def test_a_deny_streak_blocks_pushes_and_reports_fraud(radmfa_factory, peers, freeradius_upstream,  # noqa: F811
                                                       radclient):
    clients = '\n[clients.localhost]\nmode = "oob"\npush_number_matching = false\nremember_days = 0\n'
    server = make_server(radmfa_factory, peers, clients=clients, upstream=upstream_cfg(freeradius_upstream.address),
                         extra_toml="\n[limits]\npush_deny_streak = 2\npush_deny_window_s = 600\n")
    add_user(server, "alice", None, mobile="+14155550123", default_method="push")
    peers.ntfy.tap_label = "Deny"
    with server:
        for _ in range(2):
            denied = login(radclient, server, "alice-pw")
            assert denied.code == "Access-Reject", denied
            assert denied.get("Reply-Message") == "The sign-in was denied on the phone."
        refused = login(radclient, server, "alice-pw")
        assert refused.code == "Access-Reject" and "Push sign-in is blocked" in (refused.get("Reply-Message") or "")
        assert len(peers.ntfy.published) == 2  # the third push never went out
        report = cli(server, "report", "fraud", "--format", "csv")
        assert report.count("deny streak") == 1 and "alice" in report and USER_IP in report
        assert cli(server, "user", "unblock", "alice").startswith('cleared the push deny streak of user "alice"')
        peers.ntfy.tap_label = "Approve"
        assert login(radclient, server, "alice-pw").code == "Access-Accept"


def test_a_webhook_push_gets_the_three_numbers_and_where_from(radmfa_factory, hook, radclient):  # noqa: F811
    http_port = free_tcp_port()
    body = ('{"to": "{to}", "text": "{text}", "n1": "{number1}", "u1": "{number1_url}", '
            '"n2": "{number2}", "u2": "{number2_url}", "n3": "{number3}", "u3": "{number3_url}", '
            '"approve": "{approve_url}", "deny": "{deny_url}", "nas": "{nas}", "ip": "{ip}"}')
    extra = f"""
[http]
listen = ["127.0.0.1:{http_port}"]
public_url = "http://127.0.0.1:{http_port}"

[providers.hook]
type = "webhook"
url = "{hook.url}/send"
headers = {{ "Content-Type" = "application/json" }}
body = '{body}'
{MATCHING}"""
    server = radmfa_factory(mfa='push_provider = "hook"\noob_timeout_s = 30\n', extra=extra)
    add_user(server, "alice", "alice-pw", push_enrolled=True)
    with server:
        first = login(radclient, server, "alice-pw,push")
        number = shown_number(first)
        pushed = json.loads(wait_for(lambda: hook.hits and hook.hits[0]).body)
        offered = {pushed[f"n{i}"]: pushed[f"u{i}"] for i in (1, 2, 3)}
        assert len(offered) == 3 and number in offered and pushed["approve"] == ""
        assert pushed["nas"] == "Corporate VPN" and pushed["ip"] == USER_IP and "/deny?" in pushed["deny"]
        assert hook.request("POST", offered[number]) == 200
        assert login(radclient, server, "", state=first.get("State")).code == "Access-Accept"

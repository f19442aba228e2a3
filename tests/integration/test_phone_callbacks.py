"""Provider callbacks end to end: a two-way SMS reply, a callback reaching
another worker or another node than the one holding the request, the push
fraud button's alert to the security team, and forged callbacks refused
without errors or a log flood."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import pytest

from tests.fakes.twilio import NUMBER, SID, TOKEN
from tests.integration.phone_env import (  # noqa: F401  (peers and hook are fixtures)
    NTFY_TOKEN,
    Background,
    add_user,
    hook,
    login,
    make_server,
    peers,
    wait_for,
)

pytestmark = pytest.mark.integration

MOBILE = "+14155550123"


def test_two_way_sms_reply_approves(radmfa_factory, peers, radclient):  # noqa: F811
    server = make_server(radmfa_factory, peers, mfa="two_way_sms = true\n")
    add_user(server, "alice", "alice-pw", mobile=MOBILE)
    inbound = f"http://127.0.0.1:{server.http_port}/cb/sms/inbound"  # type: ignore[attr-defined]
    with server:
        first = login(radclient, server, "alice", "alice-pw")
        held = Background(lambda: login(radclient, server, "alice", "1", first.get("State")))
        text = wait_for(lambda: peers.twilio.messages and peers.twilio.messages[0])
        code = re.search(r"\d{6}", text["Body"]).group(0)  # type: ignore[union-attr]
        assert text["To"] == MOBILE and text["From"] == NUMBER and "Reply" in text["Body"]
        assert peers.twilio.text_back(inbound, MOBILE, code, token="forged")[0] == 403
        assert peers.twilio.text_back(inbound, "+14155550999", code)[0] == 200  # another phone: nothing
        # The operator may give Twilio the inbound URL with a query; Twilio
        # signs it percent-encoded, as it sends it.
        assert peers.twilio.text_back(inbound + "?site=%7Emain%2doffice", MOBILE, code)[0] == 200
        assert held.result().code == "Access-Accept"
        # One guess per code: a wrong reply (or a spoofed sender guessing) denies.
        first = login(radclient, server, "alice", "alice-pw")
        held = Background(lambda: login(radclient, server, "alice", "1", first.get("State")))
        text = wait_for(lambda: len(peers.twilio.messages) > 1 and peers.twilio.messages[1])
        code = re.search(r"\d{6}", text["Body"]).group(0)  # type: ignore[union-attr]
        wrong = f"{(int(code) + 1) % 1_000_000:06d}"
        assert peers.twilio.text_back(inbound, MOBILE, wrong)[0] == 200
        assert peers.twilio.text_back(inbound, MOBILE, code)[0] == 200  # too late
        assert held.result().code == "Access-Reject"
    assert TOKEN not in server.log_text() and SID not in server.log_text()


def test_any_worker_answers_a_callback_for_another(radmfa_factory, peers, radclient):  # noqa: F811
    server = make_server(radmfa_factory, peers, radius_extra="reject_delay_s = 0\nworkers = 2")
    add_user(server, "alice", "alice-pw", mobile=MOBILE)
    peers.ntfy.tap_label = "Approve"
    with server:
        for _ in range(4):
            first = login(radclient, server, "alice", "alice-pw")
            assert login(radclient, server, "alice", "3", first.get("State")).code == "Access-Accept"
    assert len(peers.ntfy.published) == 4 and [s for _, s in peers.ntfy.taps] == [200] * 4
    assert NTFY_TOKEN not in server.log_text()


def test_push_held_at_one_node_approved_through_another(radmfa_factory, peers, radclient,  # noqa: F811
                                                        fresh_postgres_url, tmp_path):
    # Two nodes, one PostgreSQL store: the tap reaches node B's HTTP while node A holds the request.
    shared = {"store_url": fresh_postgres_url, "key_file": str(tmp_path / "cluster.key")}
    a = make_server(radmfa_factory, peers, **shared)
    b = make_server(radmfa_factory, peers, **shared)
    add_user(a, "alice", "alice-pw", mobile=MOBILE)
    with a, b:
        first = login(radclient, a, "alice", "alice-pw")
        held = Background(lambda: login(radclient, a, "alice", "3", first.get("State")))
        message = wait_for(lambda: peers.ntfy.published and peers.ntfy.published[0])
        approve = peers.ntfy.action(message, "Approve")["url"]
        via_b = approve.replace(f":{a.http_port}/", f":{b.http_port}/")  # type: ignore[attr-defined]
        assert via_b != approve
        assert peers.ntfy.request("POST", via_b) == 200
        assert held.result().code == "Access-Accept"
        assert peers.ntfy.request("POST", approve) == 403  # decided once, cluster-wide


def test_push_fraud_button_alerts_the_security_team(radmfa_factory, peers, hook, radclient):  # noqa: F811
    server = make_server(radmfa_factory, peers, extra_toml=f'[fraud]\nnotify_webhook = "{hook.url}/soc"\n')
    add_user(server, "alice", "alice-pw", mobile=MOBILE)
    peers.ntfy.tap_label = "Deny and report fraud"
    with server:
        first = login(radclient, server, "alice", "alice-pw")
        assert login(radclient, server, "alice", "3", first.get("State")).code == "Access-Reject"
        alert = json.loads(wait_for(lambda: hook.hits and hook.hits[0]).body)
    assert alert["event"] == "fraud_report" and alert["source"] == "push" and alert["user"] == "alice"
    assert alert["device"] == "radmfa-alice-…" and alert["client"] == "localhost"


def _status(url: str, method: str = "POST") -> int:
    request = urllib.request.Request(url, data=b"" if method == "POST" else None, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310 - our own test server
            return int(resp.status)
    except urllib.error.HTTPError as e:
        e.close()
        return e.code


def test_forged_callbacks_are_refused_without_errors_or_a_log_flood(radmfa_factory, peers):  # noqa: F811
    server = make_server(radmfa_factory, peers)
    base = f"http://127.0.0.1:{server.http_port}"  # type: ignore[attr-defined]
    with server:
        statuses = [_status(f"{base}/cb/push/s{i}/approve?t=1.abc") for i in range(40)]
        statuses.append(_status(f"{base}/cb/push/s/approve?t=%C2%B2.abc"))  # "²" passes str.isdigit()
        statuses.append(_status(f"{base}/voice/{'9' * 25}", "GET"))  # no SQL integer holds that id
        assert _status(f"{base}/healthz", "GET") == 200
    assert statuses == [403] * 41 + [404]
    log = server.log_text()
    assert 1 <= log.count("callback refused") <= 20 and "Error handling request" not in log


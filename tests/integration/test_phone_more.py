"""More end-to-end phone flows: webhook providers, console provider, two-way
SMS, several workers answering each other's callbacks."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.parse
import urllib.request

import aiohttp
import pytest

from radmfa.config import ProviderConfig
from radmfa.delivery.others import WebhookSender
from tests.fakes.server import free_tcp_port
from tests.fakes.twilio import NUMBER, SID, TOKEN
from tests.fakes.webhook import FakeWebhook
from tests.integration.phone_env import (  # noqa: F401  (peers is a fixture)
    NAS_SECRET,
    NTFY_TOKEN,
    Background,
    add_user,
    make_server,
    peers,
    wait_for,
)

pytestmark = pytest.mark.integration

MOBILE = "+14155550123"


def login(radclient, server, user, password, state=None, timeout=60):
    packet = {"User-Name": user, "User-Password": password}
    if state is not None:
        packet["State"] = state
    return radclient(server.address, NAS_SECRET, [packet], timeout=timeout)[0]


@pytest.fixture
def hook():
    fake = FakeWebhook().start()
    yield fake
    fake.stop()


def test_webhook_providers_for_texts_and_pushes(radmfa_factory, hook, radclient):
    http_port = free_tcp_port()
    extra = f"""
[http]
listen = ["127.0.0.1:{http_port}"]
public_url = "http://127.0.0.1:{http_port}"

[providers.hook]
type = "webhook"
url = "{hook.url}/send"
headers = {{ "Content-Type" = "application/json", "Authorization" = "Bearer hook-secret" }}
body = '{{"to": "{{to}}", "text": "{{text}}", "approve": "{{approve_url}}", "deny": "{{deny_url}}"}}'
"""
    server = radmfa_factory(mfa='sms_provider = "hook"\npush_provider = "hook"\noob_timeout_s = 30\n', extra=extra)
    add_user(server, "alice", "alice-pw", mobile=MOBILE)
    with server:
        first = login(radclient, server, "alice", "alice-pw")
        assert "1 = text to •••0123" in (first.get("Reply-Message") or "") and "2 = push" in first.get("Reply-Message")
        asked = login(radclient, server, "alice", "1", first.get("State"))
        sent = json.loads(hook.hits[0].body)
        assert hook.hits[0].headers["Authorization"] == "Bearer hook-secret" and sent["to"] == MOBILE
        code = re.search(r"\d{6}", sent["text"]).group(0)  # type: ignore[union-attr]
        assert login(radclient, server, "alice", code, asked.get("State")).code == "Access-Accept"

        first = login(radclient, server, "alice", "alice-pw")
        held = Background(lambda: login(radclient, server, "alice", "2", first.get("State")))
        pushed = json.loads(wait_for(lambda: len(hook.hits) > 1 and hook.hits[1]).body)
        assert re.fullmatch(r"radmfa-alice-[a-z2-7]{16}", pushed["to"])
        assert hook.request("POST", pushed["approve"]) == 200
        assert held.result().code == "Access-Accept"
    assert code not in server.log_text() and "hook-secret" not in server.log_text()


def test_console_provider_logs_the_sending_never_the_code(radmfa_factory, radclient):
    extra = '[providers.lab]\ntype = "console"\n'
    server = radmfa_factory(mfa='sms_provider = "lab"\n', extra=extra)
    add_user(server, "alice", "alice-pw", mobile=MOBILE)
    with server:
        first = login(radclient, server, "alice", "alice-pw")
        asked = login(radclient, server, "alice", "1", first.get("State"))
        assert asked.code == "Access-Challenge"
    events = [e for e in server.events() if e.get("event") == "console provider: text sent"]
    assert len(events) == 1 and events[0]["to"] == MOBILE
    assert not re.search(r"code is \d{6}", server.log_text())


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


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "application/json"])
def test_webhook_values_are_escaped_for_url_and_body(hook, content_type):
    """A number's "+" is a space in a query, and a text's "&x=" or quote
    must not add a parameter or break the body."""
    body = "to={to}&text={text}" if "form" in content_type else '{"to": "{to}", "text": "{text}"}'
    cfg = ProviderConfig("hook", "webhook", url=hook.url + "/send?to={to}&text={text}", body=body,
                         headers={"content-type": content_type})
    text = 'Code 123456 & x=1 "quoted" {to} #end'

    async def send() -> None:
        async with aiohttp.ClientSession() as http:
            await WebhookSender(cfg, http).send_sms("+14155550123", text)

    asyncio.run(send())
    hit = hook.hits[0]
    assert hit.query == {"to": "+14155550123", "text": text}
    sent = json.loads(hit.body) if "json" in content_type else dict(urllib.parse.parse_qsl(hit.body))
    assert sent == {"to": "+14155550123", "text": text}

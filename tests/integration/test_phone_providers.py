"""Providers besides Twilio and ntfy, end to end: a generic webhook for
texts and pushes (each value escaped for where it lands in the URL or the
body), and the console provider for labs (logs the sending, never the code)."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.parse

import aiohttp
import pytest

from radmfa.config import ProviderConfig
from radmfa.delivery.webhook import WebhookSender
from tests.fakes.server import free_tcp_port
from tests.integration.phone_env import Background, add_user, hook, login, wait_for  # noqa: F401  (hook is a fixture)

pytestmark = pytest.mark.integration

MOBILE = "+14155550123"


def test_webhook_providers_for_texts_and_pushes(radmfa_factory, hook, radclient):  # noqa: F811
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


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "application/json"])
def test_webhook_values_are_escaped_for_url_and_body(hook, content_type):  # noqa: F811
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


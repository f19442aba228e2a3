"""The user page's "send a test" in a real browser: a helpdesk user sends
a test text, call, push and e-mail through the configured providers (the
fake Twilio, ntfy and SMTP); the call is answered by radmfa serve's
callback and hangs up; each send is in the admin log with their name;
an auditor gets no form, and their POST sends nothing."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from radmfa.core.admin_ports import Store
from radmfa.core.model import NewToken, NewUser
from radmfa.upstream.passwords import hash_password
from tests.fakes.server import free_tcp_port
from tests.integration.phone_env import cli, in_store, make_server, wait_for
from tests.portal.browser import Shots, new_page
from tests.portal.env import Portal
from tests.portal.flows import submit
from tests.portal.test_admin import admin_sign_in, admin_toml, csrf_of, events, post

pytestmark = pytest.mark.integration


@pytest.fixture
def phone_stack(radmfa_factory, peers) -> Iterator[tuple[Any, Portal, dict[str, bytes], Any]]:  # noqa: ANN001
    admin_port = free_tcp_port()
    server = make_server(radmfa_factory, peers, extra_toml=admin_toml(admin_port))
    server.write_config()
    seeds = {name: secrets.token_bytes(20) for name in ("ann", "hal", "aud")}

    async def seed(store: Store) -> None:
        for name, seed_bytes in seeds.items():
            await store.add_user(NewUser(name, password_hash=hash_password(f"{name}-pw")))
            await store.add_token(name, NewToken("totp", seed_bytes))
        await store.add_user(NewUser("alice", password_hash=hash_password("alice-pw"), mobile="+14155550123",
                                     email="alice@example.com", push_enrolled=True))

    in_store(server, seed)
    cli(server, "admin", "add", "ann", "--role", "admin")
    cli(server, "admin", "add", "hal", "--role", "helpdesk")
    cli(server, "admin", "add", "aud", "--role", "auditor")
    server.start()
    portal = Portal(server.config_path, admin_port, command="admin-portal").start()
    yield server, portal, seeds, peers
    portal.stop()


def test_helpdesk_sends_a_test_text_call_push_and_mail(phone_stack, chromium, request) -> None:  # noqa: ANN001
    server, portal, seeds, peers = phone_stack
    peers.twilio.answer = "#"  # the phone is picked up
    page = new_page(chromium, phone=False)
    shots = Shots(page, request.node.name)
    admin_sign_in(page, portal, None, "hal", seeds["hal"])
    page.goto(portal.url + "/users/alice")
    shots.step("user-test-form")
    for method in ("sms", "voice", "push", "email"):
        page.select_option("#test-method", method)
        submit(page, "Send test")
        assert f"Test sent: {method}" in page.locator(".notice").inner_text(), method
    shots.step("user-test-sent")
    assert "test message" in peers.twilio.messages[-1]["Body"]
    assert peers.twilio.messages[-1]["To"] == "+14155550123"
    call = wait_for(lambda: peers.twilio.calls and len(peers.twilio.calls[-1].steps) >= 2 and peers.twilio.calls[-1],
                    server=server)
    (answer_url, status, twiml), (_status_url, ended, _) = call.steps[:2]
    assert "/cb/test/answer" in answer_url and status == 200, call.steps
    assert "<Say>This is a test message from radmfa. You do not need to do anything.</Say><Hangup/>" in twiml
    assert ended == 204
    assert "test message" in peers.ntfy.published[-1]["message"]
    mail = wait_for(lambda: peers.smtp.messages)
    assert mail[-1]["To"] == "alice@example.com" and "test message" in mail[-1].get_payload()
    sent = [e for e in events(server) if e[1] == "user.test-send"]
    assert [(e[0], e[2], e[3].split()[0]) for e in sent] == [("hal", "alice", m) for m in ("sms", "voice", "push",
                                                                                            "email")]


def test_auditor_sends_no_test(phone_stack, chromium) -> None:  # noqa: ANN001
    server, portal, seeds, peers = phone_stack
    page = new_page(chromium, phone=False)
    admin_sign_in(page, portal, None, "aud", seeds["aud"])
    page.goto(portal.url + "/users/alice")
    assert page.locator("#test-method").count() == 0
    assert post(page, portal, "/users/alice/test", {"csrf": csrf_of(page), "method": "sms"}) == 403
    assert peers.twilio.messages == []
    assert not [e for e in events(server) if e[1] == "user.test-send"]

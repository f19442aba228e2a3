"""Enrollment hijack attempts and the portal's guards, in a real browser:
a phone added without passing the existing factor, a replayed enrollment
link, forms posted from another origin, a planted session id, markup in
names, password guessing and wrong codes (the RADIUS lockout)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from threading import Thread
from typing import Any

import pytest

from radmfa.core.admin_ports import Store
from radmfa.core.model import NewToken, UserState
from tests.fakes.server import free_tcp_port
from tests.integration.phone_env import add_user, cli, get_user, in_store
from tests.integration.test_foundation import upstream_cfg
from tests.portal.browser import Shots, new_page
from tests.portal.env import Portal, make_stack
from tests.portal.flows import expect_path, last_code, radius_login, sign_in, submit

pytestmark = pytest.mark.integration
MOBILE = "+14155550123"


@pytest.fixture
def stack(radmfa_factory, peers, freeradius_upstream) -> Iterator[tuple[Any, Portal]]:  # noqa: ANN001
    server, portal = make_stack(
        radmfa_factory, peers, upstream=upstream_cfg(freeradius_upstream.address),
        mfa='app_passwords = true\nnew_user = "deny"\nlockout_failures = 3\n',
        portal_extra="signin_per_user = 4\n",
    )
    add_user(server, "alice", None, push_enrolled=False, mobile=MOBILE, first_name="<script>alert(1)</script>")
    add_user(server, "bob", None, push_enrolled=False)
    server.start()
    portal.start()
    yield server, portal
    portal.stop()


def session_cookie(page: Any) -> str:
    return next(c["value"] for c in page.context.cookies() if c["name"] == "radmfa-user")


def pass_text_code(page: Any, peers: Any) -> None:
    page.check("input[value=sms]")
    submit(page, "Continue")
    page.wait_for_selector("#code")
    page.fill("#code", last_code(peers.twilio.messages))
    submit(page, "Verify")


def age_step_up(server: Any, cookie: str) -> None:
    """The session's last factor an hour ago, as if the user had walked away."""
    async def work(store: Store) -> None:
        now = datetime.now(UTC)
        found = await store.get_web_session(hashlib.sha256(cookie.encode()).digest(), portal="user", now=now)
        assert found is not None
        await store.put_web_session(replace(found, verified_at=now - timedelta(hours=1)))

    in_store(server, work)


def test_adding_a_phone_needs_the_existing_factor(stack, peers, chromium, request) -> None:  # noqa: ANN001
    server, portal = stack
    page = new_page(chromium)
    shots = Shots(page, request.node.name)
    sign_in(page, portal, shots)
    expect_path(page, "/verify")
    shots.step("second-factor")
    # The password alone: the wizard is not reachable, by page or by form.
    for path in ("/enroll", "/enroll/details?kind=mobile", "/account"):
        page.goto(portal.url + path)
        expect_path(page, "/signin")
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    answer = page.context.request.post(portal.url + "/enroll/details", form={
        "csrf": token, "country": "US", "number": "4155550999", "mode": "sms"}, max_redirects=0)
    assert answer.status == 303 and answer.headers["location"] == "/signin"
    # Signed in with the factor, but the pass is stale: a change asks again.
    sign_in(page, portal, None)
    pass_text_code(page, peers)
    expect_path(page, "/account")
    age_step_up(server, session_cookie(page))
    page.goto(portal.url + "/enroll/details?kind=mobile")
    expect_path(page, "/verify")
    shots.step("step-up-asked")
    assert "confirm with a method you already have" in page.inner_text("main")
    user = get_user(server, "alice")
    assert user is not None and user.mobile == MOBILE
    # After the step-up the change goes through, and the old number is told.
    pass_text_code(page, peers)
    expect_path(page, "/enroll")
    page.check("#k-mobile")
    submit(page, "Next")
    expect_path(page, "/enroll/details")
    page.fill("#number", "415 555 0199")
    submit(page, "Next")
    submit(page, "Verify now")
    page.wait_for_selector("#code")
    assert peers.twilio.messages[-1]["To"] == "+14155550199"
    page.fill("#code", last_code(peers.twilio.messages))
    submit(page, "Verify")
    expect_path(page, "/enroll/apppasswords")
    user = get_user(server, "alice")
    assert user is not None and user.mobile == "+14155550199"
    told = [m for m in peers.twilio.messages if m["To"] == MOBILE and "were changed" in m["Body"]]
    assert told, "the number being replaced was not told"


def test_enrollment_link_is_single_use(stack, chromium, request) -> None:  # noqa: ANN001
    server, portal = stack
    page = new_page(chromium)
    shots = Shots(page, request.node.name)
    sign_in(page, portal, None, "bob", "bob-pw")  # no factor, and new_user = "deny": no self-enrollment
    assert "No sign-in method yet" in page.inner_text("main")
    shots.step("no-method-no-link")
    link = cli(server, "user", "enroll-link", "bob", "--hours", "2").strip().splitlines()[-1]
    assert link.startswith(portal.url + "/enroll/")
    token = link.rsplit("/", 1)[1]
    page.goto(link)
    shots.step("link-sign-in")
    # Someone who has the link but not the password gets nothing, and the link stays good.
    page.fill("#password", "not-bobs")
    submit(page)
    assert page.locator("[role=alert]").count() == 1
    page.goto(link)
    saved_form_token = page.locator("main input[name=csrf]").get_attribute("value")
    page.fill("#password", "bob-pw")
    submit(page)
    expect_path(page, "/enroll")
    shots.step("link-used")
    # Replays: the link page, and the sign-in form posted again with the link.
    other = new_page(chromium)
    other.goto(link)
    assert "This link cannot be used" in other.inner_text("main")
    Shots(other, request.node.name + "-replay").step("replayed")
    other.goto(portal.url + "/signin")
    form_token = other.locator("main input[name=csrf]").get_attribute("value")
    answer = other.context.request.post(portal.url + "/signin", form={
        "csrf": form_token, "name": "bob", "password": "bob-pw", "link": token}, max_redirects=0)
    assert answer.status == 410 and saved_form_token
    assert token not in portal.log_text()


class _Evil(BaseHTTPRequestHandler):
    target = ""

    def do_GET(self) -> None:  # noqa: N802
        body = (f'<html><body><form id="f" method="post" action="{self.target}">'
                '<input name="method" value="voice"><input name="csrf" value="guess"></form>'
                '<script>document.getElementById("f").submit()</script></body></html>').encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


def test_forms_from_another_origin_are_refused(stack, peers, chromium) -> None:  # noqa: ANN001
    server, portal = stack
    page = new_page(chromium)
    sign_in(page, portal, None)
    pass_text_code(page, peers)
    expect_path(page, "/account")
    token = page.locator("main input[name=csrf]").first.get_attribute("value")
    post = page.context.request.post
    target = portal.url + "/account/default"
    # The session's token from a foreign origin, a foreign site's fetch, no token, a wrong token: 403.
    for headers, form in (
        ({"Origin": "http://evil.example"}, {"csrf": token, "method": "voice"}),
        ({"Sec-Fetch-Site": "cross-site"}, {"csrf": token, "method": "voice"}),
        ({}, {"method": "voice"}),
        ({}, {"csrf": "x" + (token or ""), "method": "voice"}),
    ):
        assert post(target, form=form, headers=headers, max_redirects=0).status == 403
    # A real page on another origin that auto-submits a form at the portal.
    _Evil.target = target
    evil = HTTPServer(("127.0.0.1", free_tcp_port()), _Evil)
    Thread(target=evil.serve_forever, daemon=True).start()
    try:
        page.goto(f"http://localhost:{evil.server_port}/")
        page.wait_for_load_state("load")
        page.wait_for_timeout(500)
    finally:
        evil.shutdown()
        evil.server_close()
    user = get_user(server, "alice")
    assert user is not None and user.default_method != "voice"
    assert post(target, form={"csrf": token, "method": "voice"}, max_redirects=0).status == 303
    assert (get_user(server, "alice") or user).default_method == "voice"


def test_planted_session_id_is_worthless(stack, peers, chromium) -> None:  # noqa: ANN001
    server, portal = stack
    page = new_page(chromium)
    planted = secrets.token_urlsafe(32)
    page.context.add_cookies([{"name": "radmfa-user", "value": planted, "url": portal.url}])
    sign_in(page, portal, None)
    expect_path(page, "/verify")
    after_password = session_cookie(page)
    assert after_password != planted
    pass_text_code(page, peers)
    expect_path(page, "/account")
    after_factor = session_cookie(page)
    assert after_factor not in (planted, after_password)
    for value in (planted, after_password):
        thief = new_page(chromium)
        thief.context.add_cookies([{"name": "radmfa-user", "value": value, "url": portal.url}])
        thief.goto(portal.url + "/account")
        expect_path(thief, "/signin")


def test_markup_in_names_is_shown_as_text(stack, chromium, request) -> None:  # noqa: ANN001
    server, portal = stack
    page = new_page(chromium)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    sign_in(page, portal, None, '<img src=x onerror=alert(2)>"', "wrong")
    assert page.input_value("#name") == '<img src=x onerror=alert(2)>"'
    sign_in(page, portal, None)
    expect_path(page, "/verify")
    assert "Hello <script>alert(1)</script>." in page.inner_text("main")
    Shots(page, request.node.name).step("escaped-name")
    assert dialogs == []
    headers = page.request.get(portal.url + "/signin").headers
    assert "default-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "unsafe-inline" not in headers["content-security-policy"]
    cookie = next(c for c in page.context.cookies() if c["name"] == "radmfa-user")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"


def test_password_guessing_is_throttled(stack, chromium) -> None:  # noqa: ANN001
    server, portal = stack
    page = new_page(chromium)
    for _ in range(4):
        sign_in(page, portal, None, "alice", "wrong")
        assert "not right" in page.inner_text("[role=alert]")
    sign_in(page, portal, None, "alice", "alice-pw")  # the right one, but over the limit
    assert "Too many sign-in attempts" in page.inner_text("[role=alert]")


def test_wrong_codes_lock_out_like_radius(stack, peers, chromium, radclient) -> None:  # noqa: ANN001
    server, portal = stack

    async def token(store: Store) -> None:
        await store.add_token("alice", NewToken("totp", secrets.token_bytes(20)))

    in_store(server, token)
    page = new_page(chromium)
    sign_in(page, portal, None)
    page.check("input[value=totp]")
    submit(page, "Continue")
    for _ in range(3):
        page.fill("#code", "000000")
        submit(page, "Verify")
    assert "locked" in page.inner_text("main")
    user = get_user(server, "alice")
    assert user is not None and user.state is UserState.BLOCKED and user.blocked_reason == "lockout"
    assert radius_login(radclient, server, "alice", "alice-pw").code == "Access-Reject"
    assert server.wait_for_event("auth", result="reject", user="alice")["reason"] == "lockout"


def test_no_app_password_before_a_factor(radmfa_factory, peers, freeradius_upstream, chromium) -> None:  # noqa: ANN001
    server, portal = make_stack(radmfa_factory, peers, upstream=upstream_cfg(freeradius_upstream.address))
    add_user(server, "alice", None, push_enrolled=False)  # no factor: may enroll one (new_user = "enroll")
    with server:
        portal.start()
        try:
            page = new_page(chromium)
            sign_in(page, portal, None)
            expect_path(page, "/enroll")
            token = page.locator("main input[name=csrf]").first.get_attribute("value")
            # Skipping the wizard's first steps: no app password without a factor,
            # else the password alone would buy lasting access without one.
            answer = page.context.request.post(portal.url + "/apppasswords/create", form={
                "csrf": token, "label": "sneaky", "from": "enroll"}, max_redirects=0)
            assert answer.status == 303 and answer.headers["location"] == "/enroll"
            page.goto(portal.url + "/enroll/apppasswords")
            expect_path(page, "/enroll")
        finally:
            portal.stop()

    async def made(store: Store) -> int:
        return len(await store.list_app_passwords("alice"))

    assert in_store(server, made) == 0

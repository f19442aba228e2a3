"""The first-time enrollment wizard (seed 004) in a real browser, for each
contact method, against FreeRADIUS (or slapd) for the password and the fake
Twilio / ntfy for texts, calls and pushes; then the NAS (radclient) signs
in through radmfa with the method just enrolled."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest

from radmfa.core.admin_ports import Store
from tests.integration.phone_env import add_user, get_user, in_store
from tests.integration.test_foundation import upstream_cfg
from tests.integration.test_ldap_radclient import ldap_body
from tests.portal.browser import Shots, new_page
from tests.portal.env import Portal, make_stack
from tests.portal.flows import (
    choose_kind,
    enter_phone,
    expect_path,
    last_code,
    menu_key,
    radius_login,
    sign_in,
    submit,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def stack(radmfa_factory, peers, freeradius_upstream) -> Iterator[tuple[Any, Portal]]:  # noqa: ANN001
    server, portal = make_stack(radmfa_factory, peers, upstream=upstream_cfg(freeradius_upstream.address))
    add_user(server, "alice", None, push_enrolled=False)
    server.start()
    portal.start()
    yield server, portal
    portal.stop()


def finish_without_app_passwords(page: Any, shots: Shots) -> None:
    expect_path(page, "/enroll/apppasswords")
    shots.step("app-passwords")
    page.get_by_role("link", name="I don't use these apps").click()
    expect_path(page, "/enroll/done")
    shots.step("done")


def admin_actions(server: Any) -> list[tuple[str, str]]:
    async def work(store: Store) -> list[tuple[str, str]]:
        return [(e.actor, e.action) for e in await store.query_admin_events()]

    result: list[tuple[str, str]] = in_store(server, work)
    return result


def test_mobile_text(stack, peers, chromium, radclient, request) -> None:  # noqa: ANN001
    server, portal = stack
    page = new_page(chromium)
    shots = Shots(page, request.node.name)
    sign_in(page, portal, shots)
    choose_kind(page, "mobile", shots)
    enter_phone(page, shots, "US", "(415) 555-0123", "sms")
    expect_path(page, "/enroll/verify")
    shots.step("verify-now")
    submit(page, "Verify now")
    page.wait_for_selector("#code")
    shots.step("code-sent")
    assert peers.twilio.messages[-1]["To"] == "+14155550123"
    code = last_code(peers.twilio.messages)
    page.fill("#code", f"{(int(code) + 1) % 1_000_000:06d}")
    submit(page)
    page.wait_for_selector("[role=alert]")
    shots.step("wrong-code")
    page.fill("#code", code)
    submit(page)
    expect_path(page, "/enroll/apppasswords")
    shots.step("app-passwords")
    page.fill("#label", "Laptop mail")
    submit(page, "Create app password")
    page.wait_for_selector("#apppass")
    shots.step("app-password-shown")
    app_password = page.inner_text("#apppass").strip()
    assert re.fullmatch(r"[A-Z2-7]{5}(-[A-Z2-7]{5}){3}", app_password)
    page.get_by_role("link", name="Done").click()
    expect_path(page, "/enroll/done")
    shots.step("done")
    page.get_by_role("link", name="Go to your sign-in settings").click()
    expect_path(page, "/account")
    shots.step("account")
    user = get_user(server, "alice")
    assert user is not None and user.mobile == "+14155550123" and user.default_method == "sms"
    # The NAS: password, menu, text code → Access-Accept with the upstream's attributes.
    first = radius_login(radclient, server, "alice", "alice-pw")
    assert first.code == "Access-Challenge", first.raw
    second = radius_login(radclient, server, "alice", menu_key(first.get("Reply-Message") or "", "text to"),
                          state=first.get("State"))
    done = radius_login(radclient, server, "alice", last_code(peers.twilio.messages), state=second.get("State"))
    assert done.code == "Access-Accept" and done.get("Filter-Id") == "vpn-users"
    # The app password made in the wizard signs in where app passwords are allowed.
    assert radius_login(radclient, server, "alice", app_password).code == "Access-Accept"
    assert ("alice", "portal.mobile.set") in admin_actions(server)
    assert ("alice", "portal.apppass.create") in admin_actions(server)
    for secret in (code, app_password):
        assert secret not in portal.log_text() and secret not in server.log_text()


def test_mobile_call(stack, peers, chromium, radclient, request) -> None:  # noqa: ANN001
    server, portal = stack
    peers.twilio.answer = "#"
    page = new_page(chromium, phone=False)
    shots = Shots(page, request.node.name)
    sign_in(page, portal, shots)
    choose_kind(page, "mobile", shots)
    enter_phone(page, shots, "DE", "0151 2345 6789", "voice")
    expect_path(page, "/enroll/verify")
    shots.step("verify-now")
    submit(page, "Verify now")
    page.wait_for_selector("#wait-status")
    shots.step("calling", axe=False)  # the script may already be moving on
    finish_without_app_passwords(page, shots)
    assert peers.twilio.calls[0].to == "+4915123456789"
    user = get_user(server, "alice")
    assert user is not None and user.mobile == "+4915123456789" and user.default_method == "voice"
    first = radius_login(radclient, server, "alice", "alice-pw")
    done = radius_login(radclient, server, "alice", menu_key(first.get("Reply-Message") or "", "call"),
                        state=first.get("State"))
    assert done.code == "Access-Accept"
    assert len(peers.twilio.calls) == 2


def test_office_call(stack, peers, chromium, radclient, request) -> None:  # noqa: ANN001
    server, portal = stack
    peers.twilio.answer = "#"
    page = new_page(chromium)
    shots = Shots(page, request.node.name)
    sign_in(page, portal, shots)
    choose_kind(page, "office", shots)
    enter_phone(page, shots, "US", "415-555-0987")
    expect_path(page, "/enroll/verify")
    shots.step("verify-now")
    submit(page, "Verify now")
    finish_without_app_passwords(page, shots)
    user = get_user(server, "alice")
    assert user is not None and user.office_phone == "+14155550987" and user.mobile is None
    first = radius_login(radclient, server, "alice", "alice-pw")
    menu = first.get("Reply-Message") or ""
    assert "•••0987" in menu
    done = radius_login(radclient, server, "alice", menu_key(menu, "call •••0987"), state=first.get("State"))
    assert done.code == "Access-Accept"
    assert peers.twilio.calls[-1].to == "+14155550987"


def test_push_with_backup_phone(stack, peers, chromium, radclient, request) -> None:  # noqa: ANN001
    server, portal = stack
    page = new_page(chromium)
    shots = Shots(page, request.node.name)
    sign_in(page, portal, shots)
    choose_kind(page, "app", shots)
    page.check("#mode-push")
    shots.step("app-mode")
    submit(page)
    expect_path(page, "/enroll/verify")
    shots.step("subscribe")
    topic = page.inner_text("code.secret").strip()
    assert topic.startswith("radmfa-alice-") and "…" not in topic
    submit(page, "Verify now")
    # The portal's push is number-matched: the phone taps the number the page shows.
    number = page.inner_text("#match-number").strip()
    shots.step("push-number")
    assert peers.ntfy.published[-1]["topic"] == topic
    assert peers.ntfy.tap_now(peers.ntfy.published[-1], number) == 200
    expect_path(page, "/enroll/backup")
    shots.step("backup-phone")
    enter_phone(page, shots, "US", "415 555 0144")
    expect_path(page, "/enroll/verify")
    submit(page, "Verify now")
    page.wait_for_selector("#code")
    page.fill("#code", last_code(peers.twilio.messages))
    submit(page)
    finish_without_app_passwords(page, shots)
    user = get_user(server, "alice")
    assert user is not None and user.push_enrolled and user.default_method == "push"
    assert user.mobile == "+14155550144"
    peers.ntfy.tap_label = "Approve"  # the NAS's client has no number matching
    first = radius_login(radclient, server, "alice", "alice-pw")
    done = radius_login(radclient, server, "alice", menu_key(first.get("Reply-Message") or "", "push"),
                        state=first.get("State"))
    assert done.code == "Access-Accept"


def enroll_authenticator(page: Any, shots: Shots) -> bytes:
    """The wizard's app steps, typing a code the way an app would compute it
    from the key the page shows; returns the seed."""
    choose_kind(page, "app", shots)
    page.check("#mode-totp")
    submit(page)
    expect_path(page, "/enroll/verify")
    shots.step("scan-qr")
    page.get_by_text("Can't scan the code?").click()
    shots.step("manual-key")
    seed = base64.b32decode(page.inner_text("#secret").replace(" ", "").strip())
    totp = pyotp.TOTP(base64.b32encode(seed).decode())
    page.fill("#code", "000000" if totp.now() != "000000" else "111111")
    submit(page, "Verify")
    page.wait_for_selector("[role=alert]")
    shots.step("wrong-code")
    # The previous step's code (inside the ±1 window): the NAS login below
    # uses the current one, which the portal's check has not used up.
    page.fill("#code", totp.at(time.time() - 30))
    submit(page, "Verify")
    return seed


def test_authenticator_app(stack, peers, chromium, radclient, request) -> None:  # noqa: ANN001
    server, portal = stack
    page = new_page(chromium)
    shots = Shots(page, request.node.name)
    sign_in(page, portal, shots)
    seed = enroll_authenticator(page, shots)
    expect_path(page, "/enroll/backup")
    shots.step("backup-phone")
    page.get_by_role("button", name="Skip this step").click()
    finish_without_app_passwords(page, shots)
    first = radius_login(radclient, server, "alice", "alice-pw")
    assert first.code == "Access-Challenge"
    code = pyotp.TOTP(base64.b32encode(seed).decode()).now()
    done = radius_login(radclient, server, "alice", code, state=first.get("State"))
    assert done.code == "Access-Accept" and done.get("Filter-Id") == "vpn-users"


def test_authenticator_app_with_ldap_password(radmfa_factory, peers, slapd, chromium, radclient, request) -> None:  # noqa: ANN001
    server, portal = make_stack(radmfa_factory, peers, upstream=ldap_body(slapd), mfa="")
    add_user(server, "alice", None, push_enrolled=False)
    with server:
        portal.start()
        try:
            page = new_page(chromium, phone=False)
            shots = Shots(page, request.node.name)
            sign_in(page, portal, shots, "alice", "wrong-password")
            assert page.locator("[role=alert]").count() == 1
            shots.step("wrong-password")
            sign_in(page, portal, None, "ALICE", "alice-pw")  # the name rules of RADIUS: case does not matter
            seed = enroll_authenticator(page, shots)
            expect_path(page, "/enroll/backup")
            page.get_by_role("button", name="Skip this step").click()
            expect_path(page, "/enroll/done")  # app passwords are off here: no step 4
            shots.step("done")
        finally:
            portal.stop()
        code = pyotp.TOTP(base64.b32encode(seed).decode()).now()
        assert radius_login(radclient, server, "alice", f"alice-pw,{code}").code == "Access-Accept"


def test_no_answer_and_a_denial_are_clear(radmfa_factory, peers, freeradius_upstream, chromium, request) -> None:  # noqa: ANN001
    server, portal = make_stack(radmfa_factory, peers, upstream=upstream_cfg(freeradius_upstream.address),
                                oob_timeout_s=3)
    add_user(server, "alice", None, push_enrolled=False)
    with server:
        portal.start()
        try:
            page = new_page(chromium)
            shots = Shots(page, request.node.name)
            sign_in(page, portal, None)
            choose_kind(page, "office", shots)
            enter_phone(page, shots, "US", "415-555-0987")
            peers.twilio.answer = None  # it rings out
            submit(page, "Verify now")
            page.wait_for_selector("[role=alert]", timeout=30_000)
            assert "no answer in time" in page.inner_text("[role=alert]")
            shots.step("no-answer")
            peers.twilio.answer = "1#"  # a wrong key: denied
            submit(page, "Verify now")
            page.wait_for_selector("text=The verification was denied.", timeout=30_000)
            shots.step("denied")
        finally:
            portal.stop()
    user = get_user(server, "alice")
    assert user is not None and user.office_phone is None  # nothing stored without a verification

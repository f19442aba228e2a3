"""Self-service after enrollment, in a real browser: the default method,
removing a method (step-up; never the last one), app passwords, remembered
devices, the user's own sign-ins with "This wasn't me" (the fraud path),
and the portal in German."""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest

from radmfa.core.admin_ports import Store
from radmfa.core.model import FraudReport, NewToken, UserState
from tests.integration.phone_env import add_user, get_user, in_store
from tests.integration.test_foundation import upstream_cfg
from tests.portal.browser import Shots, new_page
from tests.portal.env import Portal, make_stack
from tests.portal.flows import expect_path, last_code, radius_login, sign_in, submit

pytestmark = pytest.mark.integration
MOBILE = "+14155550123"
SEED = secrets.token_bytes(20)


@pytest.fixture
def stack(radmfa_factory, peers, freeradius_upstream) -> Iterator[tuple[Any, Portal]]:  # noqa: ANN001
    server, portal = make_stack(
        radmfa_factory, peers, upstream=upstream_cfg(freeradius_upstream.address),
        clients='[clients.localhost]\nremember_days = 7\n',
    )
    add_user(server, "alice", None, push_enrolled=False, mobile=MOBILE, default_method="sms")

    async def token(store: Store) -> None:
        await store.add_token("alice", NewToken("totp", SEED, label="phone"))

    in_store(server, token)
    server.start()
    portal.start()
    yield server, portal
    portal.stop()


def app_code(offset: float = 0) -> str:
    return pyotp.TOTP(base64.b32encode(SEED).decode()).at(time.time() + offset)


def sign_in_with_app(page: Any, portal: Portal, shots: Shots | None) -> None:
    sign_in(page, portal, shots)
    expect_path(page, "/verify")
    if shots is not None:
        shots.step("choose-method")
    page.check("input[value=totp]")
    submit(page, "Continue")
    page.wait_for_selector("#code")
    if shots is not None:
        shots.step("app-code")
    page.fill("#code", app_code(30))  # the next step: the RADIUS login used the current one
    submit(page, "Verify")
    expect_path(page, "/account")


def test_account_settings(stack, peers, chromium, radclient, request) -> None:  # noqa: ANN001
    server, portal = stack
    # A RADIUS login first (remembered as a device, listed as a sign-in).
    done = radius_login(radclient, server, "alice", f"alice-pw,{app_code()}", station="198.51.100.7")
    assert done.code == "Access-Accept"
    page = new_page(chromium, phone=False)
    shots = Shots(page, request.node.name)
    sign_in_with_app(page, portal, shots)
    shots.step("account")
    main = page.inner_text("main")
    assert "password and inline code" not in main and "signed in" in main
    # Check that a method still works: the mobile gets a text, the code brings us back.
    page.select_option("#check", "sms")
    page.get_by_role("button", name="Verify now").click()
    page.wait_for_selector("#code")
    shots.step("check-a-method")
    page.fill("#code", last_code(peers.twilio.messages))
    submit(page, "Verify")
    expect_path(page, "/account")
    # The default method.
    page.select_option("#default", "totp")
    page.get_by_role("button", name="Save").click()
    expect_path(page, "/account")
    assert (get_user(server, "alice") or None).default_method == "totp"  # type: ignore[union-attr]
    shots.step("default-saved")
    # Remove the mobile phone (the app stays), then the app is the last one and stays.
    page.get_by_role("button", name="Remove the mobile phone").click()
    expect_path(page, "/account")
    assert (get_user(server, "alice") or None).mobile is None  # type: ignore[union-attr]
    page.get_by_role("button", name="Remove authenticator app 1").click()
    expect_path(page, "/account")
    assert "only sign-in method" in page.inner_text("main")
    shots.step("last-method-kept")
    # App passwords: create one (shown once), then delete it.
    page.fill("#label", "Printer")
    page.get_by_role("button", name="Create app password").click()
    page.wait_for_selector("#apppass")
    shots.step("app-password-shown")
    page.get_by_role("link", name="Done").click()
    page.get_by_role("button", name="Delete Printer").click()
    expect_path(page, "/account")
    assert "Printer" not in page.inner_text("#apppasswords")
    # Remembered devices: the RADIUS login's station goes.
    assert "No device is remembered" not in page.inner_text("main")
    page.get_by_role("button", name="Forget all remembered devices").click()
    expect_path(page, "/account")
    assert "No device is remembered" in page.inner_text("main")
    shots.step("devices-forgotten")
    actions = [a for _, a in _admin_events(server)]
    for action in ("portal.default_method", "portal.mobile.remove", "portal.apppass.create",
                   "portal.apppass.delete", "portal.device.forget"):
        assert action in actions


def _admin_events(server: Any) -> list[tuple[str, str]]:
    async def work(store: Store) -> list[tuple[str, str]]:
        return [(e.actor, e.action) for e in await store.query_admin_events()]

    result: list[tuple[str, str]] = in_store(server, work)
    return result


def test_this_was_not_me_raises_a_fraud_report(stack, chromium, radclient, request) -> None:  # noqa: ANN001
    server, portal = stack
    assert radius_login(radclient, server, "alice", f"alice-pw,{app_code()}").code == "Access-Accept"
    page = new_page(chromium)
    shots = Shots(page, request.node.name)
    sign_in_with_app(page, portal, None)
    rows = page.locator("table.signins tbody tr")
    radius_row = rows.filter(has_text="localhost")
    assert radius_row.count() == 1
    shots.step("sign-ins")
    radius_row.get_by_role("button").click()
    page.wait_for_selector("h1")
    assert "blocked" in page.inner_text("main")
    shots.step("reported")

    async def reports(store: Store) -> list[FraudReport]:
        return await store.list_fraud_reports()

    found = in_store(server, reports)
    assert len(found) == 1 and found[0].source == "portal" and found[0].client_name == "localhost"
    user = get_user(server, "alice")
    assert user is not None and user.state is UserState.BLOCKED
    page.goto(portal.url + "/account")
    expect_path(page, "/signin")  # signed out everywhere
    assert radius_login(radclient, server, "alice", f"alice-pw,{app_code()}").code == "Access-Reject"


def test_german(stack, peers, chromium, request) -> None:  # noqa: ANN001
    server, portal = stack
    page = new_page(chromium, locale="de-DE", extra_http_headers={"Accept-Language": "de-DE,de;q=0.9"})
    shots = Shots(page, request.node.name)
    page.goto(portal.url + "/signin")
    assert page.locator("html").get_attribute("lang") == "de"
    assert "Anmelden" in page.inner_text("main")
    shots.step("anmelden")
    page.fill("#name", "alice")
    page.fill("#password", "alice-pw")
    submit(page)
    expect_path(page, "/verify")
    assert "Bestätigen Sie, dass Sie es sind" in page.inner_text("main")
    shots.step("methode")
    page.check("input[value=sms]")
    submit(page)
    page.wait_for_selector("#code")
    shots.step("code")
    page.fill("#code", last_code(peers.twilio.messages))
    submit(page)
    expect_path(page, "/account")
    assert "Ihre Anmeldeeinstellungen" in page.inner_text("main")
    shots.step("einstellungen")
    # An explicit choice beats the browser's language.
    page.select_option("#lang", "en")
    page.get_by_role("button", name="Ändern").click()
    expect_path(page, "/account")
    assert "Your sign-in settings" in page.inner_text("main")

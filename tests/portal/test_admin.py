"""The management portal in a real browser, one test per role: an admin
changes a setting (recorded with their name) and finds users; a helpdesk
user cannot reach the settings and creates a bypass that works once
through radclient; an auditor reads and cannot change anything; a POST
without the CSRF token fails."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from radmfa.core.admin_ports import Store
from radmfa.core.model import NewToken, NewUser
from radmfa.upstream.passwords import hash_password
from tests.fakes.server import free_tcp_port
from tests.integration.phone_env import cli, in_store
from tests.integration.test_foundation import code_for
from tests.portal.browser import Shots, new_page
from tests.portal.env import Portal, portal_toml
from tests.portal.flows import expect_path, radius_login, sign_in, submit

pytestmark = pytest.mark.integration
ROLES = {"ann": "admin", "hal": "helpdesk", "aud": "auditor"}


def admin_toml(port: int, extra: str = "") -> str:
    return f"""
[admin_portal]
listen = ["127.0.0.1:{port}"]
public_url = "http://127.0.0.1:{port}"
{extra}
"""


@pytest.fixture
def stack(radmfa_factory) -> Iterator[tuple[Any, Portal, dict[str, bytes]]]:  # noqa: ANN001
    admin_port = free_tcp_port()
    server = radmfa_factory(extra=portal_toml(free_tcp_port()) + admin_toml(admin_port))
    server.write_config()
    seeds = {name: secrets.token_bytes(20) for name in (*ROLES, "alice")}

    async def seed(store: Store) -> None:
        for name, seed_bytes in seeds.items():
            await store.add_user(NewUser(name, password_hash=hash_password(f"{name}-pw"),
                                         mobile="+14155550123" if name == "alice" else None,
                                         email=f"{name}@example.com"))
            await store.add_token(name, NewToken("totp", seed_bytes))

    in_store(server, seed)
    for name, role in ROLES.items():
        cli(server, "admin", "add", name, "--role", role)
    server.start()
    portal = Portal(server.config_path, admin_port, command="admin-portal").start()
    yield server, portal, seeds
    portal.stop()


def admin_sign_in(page: Any, portal: Portal, shots: Shots | None, name: str, seed: bytes) -> None:
    sign_in(page, portal, shots, name, f"{name}-pw")
    expect_path(page, "/verify")
    if shots is not None:
        shots.step("verify")
    submit(page, "Continue")
    page.wait_for_selector("#code")
    page.fill("#code", code_for(seed))
    submit(page, "Verify")
    expect_path(page, "/")


def csrf_of(page: Any) -> str:
    return str(page.input_value("footer input[name=csrf]"))


def post(page: Any, portal: Portal, path: str, form: dict[str, str]) -> int:
    """A POST with the browser's cookies, as a forged or scripted form would send it."""
    response = page.context.request.post(portal.url + path, form=form, headers={"Origin": portal.url},
                                         max_redirects=0)
    return int(response.status)


def events(server: Any) -> list[tuple[str, str, str, str]]:
    async def work(store: Store) -> list[tuple[str, str, str, str]]:
        return [(e.actor, e.action, e.target, e.detail) for e in await store.query_admin_events()]

    return in_store(server, work)  # type: ignore[no-any-return]


def test_admin_finds_users_and_changes_a_setting(stack, chromium, request) -> None:  # noqa: ANN001
    server, portal, seeds = stack
    page = new_page(chromium, phone=False)
    shots = Shots(page, request.node.name)
    page.goto(portal.url + "/")
    expect_path(page, "/signin")  # nothing without signing in
    admin_sign_in(page, portal, shots, "ann", seeds["ann"])
    assert page.get_by_role("heading", name="Dashboard").is_visible()
    assert page.locator("img.chart").evaluate("img => img.complete && img.naturalWidth > 0")
    shots.step("dashboard")
    page.get_by_role("link", name="Users").click()
    page.fill("#q", "+1415")
    submit(page, "Search")
    shots.step("users-search")
    page.get_by_role("link", name="alice", exact=True).click()
    expect_path(page, "/users/alice")
    assert "totp" in page.locator("main").inner_text()
    shots.step("user")
    page.get_by_role("link", name="Settings").click()
    shots.step("settings")
    page.fill("input[name='mfa.lockout_failures']", "3")
    page.fill("textarea[name='mfa.trusted_networks']", "10.0.0.0/8\n192.0.2.0/24")
    submit(page, "Save")
    assert "Saved" in page.locator(".notice").inner_text()
    shots.step("settings-saved")
    page.fill("input[name='mfa.lockout_failures']", "many")
    submit(page, "Save")
    assert "whole number" in page.locator(".alert").inner_text()  # a bad value changes nothing
    assert cli(server, "settings", "get", "mfa.lockout_failures") == "3\n"
    assert ("ann", "setting.set", "mfa.lockout_failures", "(default) → 3") in events(server)
    # A form without the CSRF token changes nothing, however signed in the browser is.
    assert post(page, portal, "/settings", {"mfa.lockout_failures": "9"}) == 403
    assert cli(server, "settings", "get", "mfa.lockout_failures") == "3\n"
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(portal.url + "/users?q=al")
    shots.step("users-phone")


def test_helpdesk_cannot_reach_settings_and_a_bypass_works_once(  # noqa: ANN001
    stack, chromium, radclient, request
) -> None:
    server, portal, seeds = stack
    page = new_page(chromium, phone=False)
    shots = Shots(page, request.node.name)
    admin_sign_in(page, portal, None, "hal", seeds["hal"])
    assert page.get_by_role("link", name="Settings").count() == 0
    assert page.goto(portal.url + "/settings").status == 403
    shots.step("settings-refused")
    assert post(page, portal, "/settings", {"csrf": csrf_of(page), "mfa.new_user": "allow"}) == 403
    assert "enroll" in cli(server, "settings", "get", "mfa.new_user")
    assert radius_login(radclient, server, "alice", "alice-pw").code == "Access-Challenge"  # a factor is due
    page.goto(portal.url + "/bypass")
    page.fill("#name", "<img src=x>")
    page.fill("#reason", "test")
    submit(page, "Create bypass")
    assert "<img src=x>" in page.locator(".alert").inner_text()  # shown as text
    assert page.locator(".alert img").count() == 0
    page.goto(portal.url + "/users/alice")
    page.get_by_role("link", name="One-time bypass…").click()
    expect_path(page, "/bypass")
    assert page.input_value("#name") == "alice"
    page.fill("#seconds", "600")
    page.fill("#reason", "INC-7 <phone lost>")
    shots.step("bypass-form")
    submit(page, "Create bypass")
    assert "works once" in page.locator(".notice").inner_text()
    assert "INC-7 <phone lost>" in page.locator("table").inner_text()  # escaped, shown as typed
    shots.step("bypass-created")
    assert radius_login(radclient, server, "alice", "alice-pw").code == "Access-Accept"  # the bypass
    assert radius_login(radclient, server, "alice", "alice-pw").code == "Access-Challenge"  # used up
    page.reload()
    assert "used" in page.locator("table").inner_text()
    assert any(e[0] == "hal" and e[1] == "bypass.create" for e in events(server))


def test_auditor_reads_and_cannot_change_anything(stack, chromium, request) -> None:  # noqa: ANN001
    server, portal, seeds = stack
    page = new_page(chromium, phone=False)
    shots = Shots(page, request.node.name)
    admin_sign_in(page, portal, None, "aud", seeds["aud"])
    page.goto(portal.url + "/users/alice")
    assert page.locator("main form").count() == 0  # no action offered
    shots.step("user-read-only")
    page.goto(portal.url + "/bypass")
    assert page.locator("#reason").count() == 0
    shots.step("bypass-read-only")
    token = csrf_of(page)
    before = events(server)
    for path, form in (("/users/alice/reset", {}), ("/users/alice/state", {"state": "disabled"}),
                       ("/bypass", {"name": "alice", "seconds": "60", "reason": "x"}),
                       ("/users/alice/enroll-link", {"hours": "1"}), ("/settings", {"mfa.new_user": "allow"})):
        assert post(page, portal, path, {"csrf": token, **form}) == 403, path
    assert events(server) == before

    async def tokens(store: Store) -> int:
        return len(await store.list_tokens("alice"))

    assert in_store(server, tokens) == 1


def test_sign_in_needs_an_admin_account_and_the_second_factor(stack, chromium) -> None:  # noqa: ANN001
    server, portal, seeds = stack
    page = new_page(chromium)
    sign_in(page, portal, None, "alice", "alice-pw")  # a user, no administrator
    assert "not right" in page.locator(".alert").inner_text()
    page.goto(portal.url + "/users")
    expect_path(page, "/signin")
    sign_in(page, portal, None, "ann", "ann-pw")
    expect_path(page, "/verify")
    page.goto(portal.url + "/")  # the password alone opens nothing
    expect_path(page, "/signin")
    cli(server, "admin", "remove", "hal")
    sign_in(page, portal, None, "hal", "hal-pw")
    assert "not right" in page.locator(".alert").inner_text()


def test_a_browser_outside_allow_from_gets_nothing(radmfa_factory) -> None:  # noqa: ANN001
    import urllib.error
    import urllib.request

    port = free_tcp_port()
    server = radmfa_factory(extra=admin_toml(port, 'allow_from = ["192.0.2.0/24", "::1/128"]'))
    server.write_config()
    portal = Portal(server.config_path, port, command="admin-portal").start()  # /healthz answers anyone
    try:
        for path in ("/signin", "/", "/static/portal.css"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(portal.url + path, timeout=10)  # noqa: S310 - the test's own portal
            assert refused.value.code == 403
            assert refused.value.headers["Content-Security-Policy"]
            refused.value.close()
        assert "outside allow_from" in portal.log_text()
    finally:
        portal.stop()

"""Pushes the portals send are number-matched: the page shows a two-digit
number, the push (the fake ntfy) offers three, and only the shown one
signs in. The user portal's sign-in and the management portal's (which
reuses its steps), in Chromium; the phone taps through the fake ntfy and
radmfa serve takes the tap."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from radmfa.core.admin_ports import Store
from radmfa.core.model import NewUser
from radmfa.upstream.passwords import hash_password
from tests.fakes.server import free_tcp_port
from tests.integration.phone_env import cli, in_store, make_server, wait_for
from tests.portal.browser import Shots, new_page
from tests.portal.env import Portal, portal_toml
from tests.portal.flows import expect_path, sign_in, submit
from tests.portal.test_admin import admin_toml

pytestmark = pytest.mark.integration


@pytest.fixture
def stack(radmfa_factory, peers) -> Iterator[tuple[Any, Portal, Portal, Any]]:  # noqa: ANN001
    """radmfa serve (the push callbacks), the user portal and the management
    portal; alice and the administrator ann sign in with push only."""
    user_port, admin_port = free_tcp_port(), free_tcp_port()
    server = make_server(radmfa_factory, peers, extra_toml=portal_toml(user_port) + admin_toml(admin_port))
    server.write_config()

    async def seed(store: Store) -> None:
        for name in ("alice", "ann"):
            await store.add_user(NewUser(name, password_hash=hash_password(f"{name}-pw"), push_enrolled=True,
                                         default_method="push"))

    in_store(server, seed)
    cli(server, "admin", "add", "ann", "--role", "admin")
    server.start()
    user_portal = Portal(server.config_path, user_port).start()
    admin_portal = Portal(server.config_path, admin_port, command="admin-portal").start()
    yield server, user_portal, admin_portal, peers
    admin_portal.stop()
    user_portal.stop()


def push_and_number(page: Any, peers: Any, sent_before: int, shots: Shots) -> tuple[dict[str, Any], str]:
    """Choose push on the verify page: the push sent and the number the page shows."""
    expect_path(page, "/verify")
    submit(page, "Continue")
    page.wait_for_selector("#match-number")
    shots.step("number-shown")
    number = page.inner_text("#match-number").strip()
    assert re.fullmatch(r"[1-9]\d", number), number
    wait_for(lambda: len(peers.ntfy.published) > sent_before)
    message = peers.ntfy.published[-1]
    labels = [a["label"] for a in message["actions"]]
    assert len(set(labels)) == 3 and number in labels, (number, labels)
    assert all(re.fullmatch(r"[1-9]\d", x) for x in labels)
    assert "Approve" not in labels and "Tap the number shown where you are signing in" in message["message"]
    return message, number


def wrong_then_right(page: Any, portal: Portal, peers: Any, shots: Shots, name: str, landing: str) -> None:
    sign_in(page, portal, shots, name, f"{name}-pw")
    shots.step("verify")
    message, number = push_and_number(page, peers, len(peers.ntfy.published), shots)
    wrong = next(x for x in (a["label"] for a in message["actions"]) if x != number)
    assert peers.ntfy.tap_now(message, wrong) == 200
    # The page's script sees the answer and continues: back to the choice, signed out.
    alert = page.wait_for_selector("[role=alert]", timeout=30_000)
    assert "The wrong number was chosen on your phone." in alert.inner_text()
    assert page.locator("input[name=method][value=push]").count() == 1  # the choice of method again
    shots.step("wrong-number")
    assert peers.ntfy.tap_now(message, number) == 403  # decided: the right one cannot undo it now
    page.goto(portal.url + landing)
    expect_path(page, "/signin")  # not signed in

    sign_in(page, portal, None, name, f"{name}-pw")
    message, number = push_and_number(page, peers, len(peers.ntfy.published), shots)
    assert peers.ntfy.tap_now(message, number) == 200
    expect_path(page, landing)
    shots.step("signed-in")


def audit_of(server: Any, name: str) -> list[tuple[str, str, str]]:
    async def work(store: Store) -> list[tuple[str, str, str]]:
        rows = await store.query_audit(username=name)
        return [(r.result, r.reason, r.factor) for r in rows]

    result: list[tuple[str, str, str]] = in_store(server, work)
    return result


def test_user_portal_push_needs_the_shown_number(stack, chromium, request) -> None:  # noqa: ANN001
    server, user_portal, _, peers = stack
    page = new_page(chromium)
    shots = Shots(page, request.node.name)
    wrong_then_right(page, user_portal, peers, shots, "alice", "/account")
    assert page.get_by_role("heading", level=1).first.inner_text()
    rows = audit_of(server, "alice")
    assert ("reject", "portal: wrong code or denied", "push") in rows
    assert ("accept", "portal sign-in", "push") in rows


def test_management_portal_push_needs_the_shown_number(stack, chromium, request) -> None:  # noqa: ANN001
    server, _, admin_portal, peers = stack
    page = new_page(chromium, phone=False)
    shots = Shots(page, request.node.name)
    wrong_then_right(page, admin_portal, peers, shots, "ann", "/")
    assert page.locator("a[href$='/users']").count() > 0  # the dashboard's navigation

"""The dashboard's Health card, in a real browser: radmfa serve proxies to
two FreeRADIUS upstream servers, the first of which never answers (a bound
UDP port nobody reads); after one login through radclient the card shows
the serve node's first server dead and the second live. A test text sent
from the portal (the fake Twilio) shows the provider working under the
portal's own node, and a node that stopped reporting is marked stale."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from radmfa.config import load
from radmfa.core.admin_model import ComponentHealth
from radmfa.core.admin_ports import Store
from radmfa.core.model import NewToken, NewUser
from tests.fakes.server import free_tcp_port
from tests.integration.harness import NAS_SECRET
from tests.integration.phone_env import cli, in_store, make_server, wait_for
from tests.integration.test_foundation import upstream_cfg
from tests.portal.browser import Shots, new_page
from tests.portal.env import Portal
from tests.portal.flows import submit
from tests.portal.test_admin import admin_sign_in, admin_toml

pytestmark = pytest.mark.integration


@pytest.fixture
def silent_udp() -> Iterator[tuple[str, int]]:
    """A UDP port bound and never read: a RADIUS server that does not answer."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    yield s.getsockname()
    s.close()


def card_rows(page: Any) -> dict[str, dict[str, str]]:
    """node → "kind name" → the row's text, as the dashboard shows it now."""
    found: dict[str, dict[str, str]] = {}
    for node in page.locator(".health .node").all():
        rows = {str(r.get_attribute("data-component")): r.inner_text() for r in node.locator("tbody tr").all()}
        found[str(node.get_attribute("data-node"))] = {"class": str(node.get_attribute("class")), **rows}
    return found


def test_health_card_shows_each_nodes_upstreams_and_providers(  # noqa: ANN001
    radmfa_factory, peers, freeradius_upstream, radclient, silent_udp, chromium, request
) -> None:
    dead = f"127.0.0.1:{silent_udp[1]}"
    live = f"{freeradius_upstream.address[0]}:{freeradius_upstream.address[1]}"
    admin_port = free_tcp_port()
    server = make_server(
        radmfa_factory, peers, extra_toml=admin_toml(admin_port), mfa='unknown_users = "password-only"\n',
        upstream=upstream_cfg(silent_udp, freeradius_upstream.address, timeout_s=1.0, retries=1),
    )
    server.write_config()
    seed = secrets.token_bytes(20)

    async def accounts(store: Store) -> None:
        await store.add_user(NewUser("bob"))  # FreeRADIUS checks bob's password
        await store.add_token("bob", NewToken("totp", seed))
        await store.add_user(NewUser("carol", mobile="+14155550123"))

    in_store(server, accounts)
    cli(server, "admin", "add", "bob", "--role", "admin")
    node = load(server.config_path).audit.server_name
    gone = ComponentHealth(node="old-node", kind="upstream", name=live, up=True,
                           reported_at=datetime.now(UTC) - timedelta(minutes=5), latency_s=0.003)

    async def stopped_node(store: Store) -> None:
        await store.report_health([gone, replace(gone, kind="provider", name="tw")])

    in_store(server, stopped_node)
    portal = Portal(server.config_path, admin_port, command="admin-portal")
    with server:
        portal.start()
        try:
            # One login through serve: the silent server times out and is marked dead, FreeRADIUS answers.
            replies = radclient(server.address, NAS_SECRET, [{"User-Name": "alice", "User-Password": "alice-pw"}])
            assert replies[0].code == "Access-Accept", server.log_text()
            page = new_page(chromium, phone=False)
            shots = Shots(page, request.node.name)
            admin_sign_in(page, portal, None, "bob", seed)

            def serve_reported() -> dict[str, dict[str, str]] | None:
                page.goto(portal.url + "/")
                rows = card_rows(page).get(node, {})
                ok = f"upstream {dead}" in rows and f"upstream {live}" in rows
                return card_rows(page) if ok else None

            card = wait_for(serve_reported, server=server)[node]
            assert "dead" in card[f"upstream {dead}"] and "no answer" in card[f"upstream {dead}"], card
            assert "live" in card[f"upstream {live}"] and " ms" in card[f"upstream {live}"], card
            assert "stale" not in card["class"]
            stale = card_rows(page)["old-node"]
            assert "stale" in stale["class"] and "upstream " + live in stale
            assert "STALE: LAST REPORT" in page.locator("[data-node='old-node'] h3").inner_text().upper()
            shots.step("dashboard-health")

            # A test text from the portal: the provider appears under the portal's node.
            page.goto(portal.url + "/users/carol")
            page.select_option("#test-method", "sms")
            submit(page, "Send test")
            assert "Test sent: sms" in page.locator(".notice").inner_text()
            portal_node = f"{node} (admin portal)"

            def provider_reported() -> dict[str, str] | None:
                page.goto(portal.url + "/")
                return card_rows(page).get(portal_node, {}).get("provider tw")

            row = wait_for(provider_reported, server=server)
            assert "working" in row and " ms" in row, row
            assert "dead" in card_rows(page)[portal_node][f"upstream {dead}"]  # the portal's sign-in found it too
            shots.step("dashboard-provider")
        finally:
            portal.stop()

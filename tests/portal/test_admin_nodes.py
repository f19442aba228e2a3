"""A setting changed in the management portal, in a browser, reaches a
second radmfa node on the same PostgreSQL store without a restart: the
second node's answer to radclient changes."""

from __future__ import annotations

import secrets

import pytest

from radmfa.core.admin_ports import Store
from radmfa.core.model import NewToken, NewUser
from radmfa.upstream.passwords import hash_password
from tests.fakes.server import free_tcp_port
from tests.integration.harness import NAS_SECRET
from tests.integration.phone_env import cli, in_store
from tests.portal.browser import Shots, new_page
from tests.portal.env import Portal
from tests.portal.flows import submit
from tests.portal.test_admin import admin_sign_in, admin_toml

pytestmark = pytest.mark.integration


def test_a_setting_saved_in_the_portal_reaches_another_node(  # noqa: ANN001
    radmfa_factory, radclient, fresh_postgres_url, tmp_path, chromium, request
) -> None:
    shared = {"store_url": fresh_postgres_url, "key_file": str(tmp_path / "seeds.key")}
    admin_port = free_tcp_port()
    a = radmfa_factory(extra=admin_toml(admin_port), **shared)
    b = radmfa_factory(**shared)
    seed = secrets.token_bytes(20)

    async def accounts(store: Store) -> None:
        await store.add_user(NewUser("ann", password_hash=hash_password("ann-pw")))
        await store.add_token("ann", NewToken("totp", seed))
        await store.add_user(NewUser("alice", password_hash=hash_password("alice-pw")))  # no factor yet

    in_store(a, accounts)
    cli(a, "admin", "add", "ann", "--role", "admin")
    login = [{"User-Name": "alice", "User-Password": "alice-pw"}]
    portal = Portal(a.config_path, admin_port, command="admin-portal")
    with a, b:
        portal.start()
        try:
            assert radclient(b.address, NAS_SECRET, login)[0].code == "Access-Reject"  # the default: enroll first
            page = new_page(chromium, phone=False)
            shots = Shots(page, request.node.name)
            admin_sign_in(page, portal, None, "ann", seed)
            page.get_by_role("link", name="Settings").click()
            page.select_option("select[name='mfa.new_user']", "allow")
            submit(page, "Save")
            assert "Saved: mfa.new_user" in page.locator(".notice").inner_text()
            shots.step("saved")
            b.wait_for_event("settings changed", mfa_new_user="allow")  # node B polled the store
            reply = radclient(b.address, NAS_SECRET, login)[0]
            assert reply.code == "Access-Accept", b.log_text()
            assert b.proc is not None and b.proc.poll() is None  # the same process: no restart
        finally:
            portal.stop()

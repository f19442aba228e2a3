"""The management portal's caching page in a real browser: an admin adds,
edits and deletes [[mfa.cache]] rules kept in the store; a bad value, an
unknown client or a form made from an older list changes nothing; radmfa
serve follows each change without a restart (radclient); an auditor reads
and cannot change them."""

from __future__ import annotations

import pytest

from tests.integration.phone_env import cli, wait_for
from tests.integration.test_foundation import code_for
from tests.portal.browser import Shots, new_page
from tests.portal.flows import radius_login, submit
from tests.portal.test_admin import admin_sign_in, csrf_of, events, post, stack  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration


def signs_in_with_code(radclient, server, seed: bytes) -> None:  # noqa: ANN001
    first = radius_login(radclient, server, "alice", "alice-pw")
    assert first.code == "Access-Challenge"
    assert radius_login(radclient, server, "alice", code_for(seed), state=first.get("State")).code == "Access-Accept"


def test_admin_adds_edits_and_deletes_caching_rules(stack, chromium, radclient, request) -> None:  # noqa: ANN001, F811
    server, portal, seeds = stack
    page = new_page(chromium, phone=False)
    shots = Shots(page, request.node.name)
    admin_sign_in(page, portal, None, "ann", seeds["ann"])
    page.get_by_role("link", name="Caching").click()
    assert "No caching rules" in page.locator("main").inner_text()
    page.select_option("#c-type", "user+client")
    page.fill("#c-seconds", "0")
    submit(page, "Add rule")
    assert "seconds must be a whole number" in page.locator(".alert").inner_text()
    page.fill("#c-seconds", "3600")
    page.fill("#c-clients", "nowhere")
    submit(page, "Add rule")
    assert "no client named 'nowhere'" in page.locator(".alert").inner_text()
    page.select_option("#c-type", "user+client")
    page.fill("#c-seconds", "3600")
    page.fill("#c-clients", "localhost")
    submit(page, "Add rule")
    assert "Saved" in page.locator(".notice").inner_text()
    shots.step("cache-added")
    assert cli(server, "settings", "get", "mfa.cache") == "user+client 3600 localhost\n"
    server.wait_for_event("settings changed")  # radmfa serve follows, without a restart
    signs_in_with_code(radclient, server, seeds["alice"])
    assert radius_login(radclient, server, "alice", "alice-pw").code == "Access-Accept"  # the rule lets it in

    page.select_option("select[form=rule-1]", "user+station")
    page.fill("input[form=rule-1][name=seconds]", "60")
    page.fill("input[form=rule-1][name=clients]", "")
    submit(page, "Save 1")
    assert cli(server, "settings", "get", "mfa.cache") == "user+station 60\n"
    version = page.input_value("form#rule-1 input[name=version]")
    submit(page, "Delete 1")
    assert "No caching rules" in page.locator("main").inner_text()
    # A form from before the delete refers to a rule that is gone: refused, nothing changes.
    refused = post(page, portal, "/cache", {"csrf": csrf_of(page), "version": version, "action": "delete",
                                            "index": "0"})
    assert refused == 200 and cli(server, "settings", "get", "mfa.cache") == "\n"
    wait_for(lambda: any(e.get("event") == "settings changed" and int(e.get("version", 0)) >= 3  # type: ignore
                         for e in server.events()), server=server)  # the third change (one poll may see two)
    assert radius_login(radclient, server, "alice", "alice-pw").code == "Access-Challenge"  # no rule: the factor
    sets = [e for e in events(server) if e[1] == "setting.set" and e[2] == "mfa.cache"]
    assert [e[0] for e in sets] == ["ann", "ann", "ann"]  # added, edited, deleted: each with the admin's name
    page.set_viewport_size({"width": 390, "height": 844})
    shots.step("cache-empty")


def test_auditor_reads_caching_rules_only(stack, chromium, request) -> None:  # noqa: ANN001, F811
    server, portal, seeds = stack
    cli(server, "settings", "set", "mfa.cache", "user", "600;", "user+client", "60", "localhost")
    page = new_page(chromium, phone=False)
    shots = Shots(page, request.node.name)
    admin_sign_in(page, portal, None, "aud", seeds["aud"])
    page.goto(portal.url + "/cache")
    assert "600" in page.locator("table").inner_text() and "localhost" in page.locator("table").inner_text()
    assert page.locator("main form").count() == 0
    shots.step("cache-read-only")
    assert post(page, portal, "/cache", {"csrf": csrf_of(page), "action": "add", "type": "user", "seconds": "5"}) == 403
    assert cli(server, "settings", "get", "mfa.cache") == "user 600\nuser+client 60 localhost\n"

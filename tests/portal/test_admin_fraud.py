"""The management portal's fraud page in a real browser: everyone signed
in reads the reports with `radmfa report fraud`'s filters; an admin
marks one reviewed and another a false alarm that lifts the block, both
recorded with their name; helpdesk and auditor get no review form and a
POST of theirs changes nothing."""

from __future__ import annotations

import pytest

from tests.integration.phone_env import cli, login
from tests.portal.browser import Shots, new_page
from tests.portal.flows import submit
from tests.portal.test_admin import admin_sign_in, csrf_of, events, post, stack  # noqa: F401 (fixture)
from tests.portal.test_admin_sends import phone_stack  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration


def record(server, name: str, reason: str) -> str:  # noqa: ANN001
    out = cli(server, "fraud", "record", name, "--reason", reason, "--phone", "+14155550123")
    return out.split()[3]  # "recorded fraud report N for …"


def test_admin_reviews_fraud_reports(stack, chromium, request) -> None:  # noqa: ANN001, F811
    server, portal, seeds = stack
    first = record(server, "alice", "call at 3 am <not me>")
    second = record(server, "hal", "push I did not ask for")
    assert "blocked" in cli(server, "user", "show", "hal")
    page = new_page(chromium, phone=False)
    shots = Shots(page, request.node.name)
    admin_sign_in(page, portal, None, "ann", seeds["ann"])
    page.get_by_role("link", name="Fraud").click()
    table = page.locator("table").inner_text()
    assert "call at 3 am <not me>" in table and "push I did not ask for" in table  # escaped, shown as typed
    shots.step("fraud")
    page.fill("#f-user", "alice")
    page.select_option("#f-status", "new")
    submit(page, "Show")
    assert "alice" in page.locator("table").inner_text() and "hal" not in page.locator("tbody").inner_text()
    page.select_option(f"#st-{first}", "reviewed")
    submit(page, f"Mark {first}")
    assert "marked" in page.locator(".notice").inner_text()
    page.goto(portal.url + "/fraud?status=reviewed")
    assert page.locator("tbody tr").count() == 1
    page.goto(portal.url + "/fraud?since=yesterday")
    assert "since" in page.locator(".alert").inner_text()  # a filter it cannot read says so
    page.goto(portal.url + "/fraud")
    page.select_option(f"#st-{second}", "false-alarm")
    page.check(f"#ub-{second}")
    submit(page, f"Mark {second}")
    assert "unblocked" in page.locator(".notice").inner_text()
    shots.step("fraud-marked")
    assert "blocked" not in cli(server, "user", "show", "hal").split("state")[1].split("\n")[0]
    assert ("ann", "fraud.set-status", first, "reviewed") in events(server)
    assert any(e[:3] == ("ann", "user.unblock", "hal") for e in events(server))
    assert "reviewed" in cli(server, "report", "fraud", "--status", "reviewed")


@pytest.mark.parametrize("who", ["hal", "aud"])
def test_helpdesk_and_auditor_read_fraud_reports_only(stack, chromium, request, who) -> None:  # noqa: ANN001, F811
    server, portal, seeds = stack
    ident = record(server, "alice", "not me")
    page = new_page(chromium, phone=False)
    shots = Shots(page, request.node.name)
    admin_sign_in(page, portal, None, who, seeds[who])
    page.goto(portal.url + "/fraud")
    assert "not me" in page.locator("table").inner_text()
    assert page.locator("main form[method=post]").count() == 0
    shots.step("fraud-read-only")
    before = events(server)
    assert post(page, portal, f"/fraud/{ident}/status", {"csrf": csrf_of(page), "status": "reviewed"}) == 403
    assert events(server) == before


def test_fraud_settings_saved_in_the_portal_apply_to_the_next_call(phone_stack, chromium, radclient,  # noqa: ANN001, F811
                                                                   request) -> None:
    server, portal, seeds, peers = phone_stack
    page = new_page(chromium, phone=False)
    shots = Shots(page, request.node.name)
    admin_sign_in(page, portal, None, "ann", seeds["ann"])
    page.get_by_role("link", name="Settings").click()
    page.fill("textarea[name='fraud.notify_email']", "soc@example.com")
    submit(page, "Save")
    assert "needs [smtp] host" in page.locator(".alert").inner_text()  # this radmfa.toml cannot send mail
    page.fill("textarea[name='fraud.notify_email']", "")
    page.fill("input[name='mfa.fraud_code']", "7")
    submit(page, "Save")
    assert 'digits then "#"' in page.locator(".alert").inner_text()
    page.fill("input[name='mfa.fraud_code']", "7#")
    page.uncheck("input[name='fraud.block_user']")
    submit(page, "Save")
    assert "Saved: mfa.fraud_code, fraud.block_user" in page.locator(".notice").inner_text()
    shots.step("fraud-settings")
    assert cli(server, "settings", "get", "fraud.block_user") == "false\n"
    server.wait_for_event("settings changed", fraud_block_user="false")  # radmfa serve, without a restart

    peers.twilio.answer = "7#"
    first = login(radclient, server, "alice", "alice-pw")
    assert login(radclient, server, "alice", "2", state=first.get("State")).code == "Access-Reject"
    assert "press seven, then pound to report fraud" in peers.twilio.calls[-1].steps[0][2]
    assert "voice" in cli(server, "report", "fraud", "--user", "alice", "--format", "csv")  # the report is kept
    assert login(radclient, server, "alice", "alice-pw").code == "Access-Challenge"  # reported, not blocked
    assert any(e[:3] == ("ann", "setting.set", "fraud.block_user") for e in events(server))

"""The management portal's policy, token, sync and report pages in a real
browser, against `radmfa serve`, the admin portal and a real slapd: trusted
networks pasted in bulk (every bad line named, nothing saved) and removed,
the app-password switch, a hardware token imported from an uploaded file,
assigned and resynchronised, a directory sync previewed and run with its
leavers confirmed by count, and reports whose CSV export equals `radmfa
report … --format csv` for the same filters. Each role sees what it may."""

from __future__ import annotations

import base64
import csv
import io
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from radmfa.core.admin_ports import Store
from radmfa.core.model import AuditRecord, NewToken, NewUser
from radmfa.factors.totp import hotp
from radmfa.upstream.passwords import hash_password
from tests.fakes.server import free_tcp_port
from tests.integration.phone_env import cli, in_store
from tests.peers.fixtures import require_binary
from tests.peers.slapd import ALICE, BASE_DN, BOB, SERVICE_DN, SERVICE_PW, LdapPerson, Slapd
from tests.portal.browser import Shots, new_page
from tests.portal.env import Portal, portal_toml
from tests.portal.flows import radius_login, submit
from tests.portal.test_admin import ROLES, admin_sign_in, admin_toml, csrf_of, events, post

pytestmark = pytest.mark.integration
LEAVERS = [LdapPerson(f"temp{n}", "pw", "Temp", str(n)) for n in range(3)]
HOTP_SECRET = b"12345678901234567890"


@pytest.fixture
def directory() -> Iterator[Slapd]:
    server = Slapd([ALICE, BOB, *LEAVERS], binary=require_binary("slapd"))
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def stack(radmfa_factory, directory) -> Iterator[tuple[Any, Portal, dict[str, bytes]]]:  # noqa: ANN001
    admin_port = free_tcp_port()
    ldap = (f'[upstreams.dir]\ntype = "ldap"\nservers = ["{directory.ldaps_url}"]\n'
            f'ca_file = "{directory.pki.ca_file}"\nbind_dn = "{SERVICE_DN}"\nbind_password = "{SERVICE_PW}"\n'
            f'base_dn = "{BASE_DN}"\n\n[sync]\nupstream = "dir"\nfilter = "(objectClass=inetOrgPerson)"\n'
            "max_removals = 1\n\n[clients.localhost]\napp_passwords = \"deny\"\nremember_days = 7\n")
    server = radmfa_factory(extra=portal_toml(free_tcp_port()) + admin_toml(admin_port) + ldap)
    server.write_config()
    seeds = {name: secrets.token_bytes(20) for name in (*ROLES, "alice")}

    async def seed(store: Store) -> None:
        for name, seed_bytes in seeds.items():
            await store.add_user(NewUser(name, password_hash=hash_password(f"{name}-pw")))
            await store.add_token(name, NewToken("totp", seed_bytes))

    in_store(server, seed)
    for name, role in ROLES.items():
        cli(server, "admin", "add", name, "--role", role)
    server.start()
    portal = Portal(server.config_path, admin_port, command="admin-portal").start()
    yield server, portal, seeds
    portal.stop()


def setting(server: Any, name: str) -> list[str]:
    return cli(server, "settings", "get", name).split()


def test_trusted_networks_and_app_passwords(stack, chromium, request) -> None:  # noqa: ANN001
    server, portal, seeds = stack
    page = new_page(chromium, phone=False)
    shots = Shots(page, request.node.name)
    admin_sign_in(page, portal, None, "ann", seeds["ann"])
    page.get_by_role("link", name="Trusted networks").click()
    shots.step("trusted-empty")
    pasted = "# the offices\n10.0.0.0/8\n10.1.2.3/24\n\n2001:db8::/32  # lab\nnonsense\n"
    page.fill("#networks", pasted)
    submit(page, "Add")
    problems = page.locator("ul.problems").inner_text()
    assert "line 3: '10.1.2.3/24'" in problems and "has host bits set" in problems
    assert "line 6: 'nonsense'" in problems
    assert "line 2" not in problems and "line 5" not in problems  # the good lines and the comment
    assert page.input_value("#networks").strip() == pasted.strip()  # kept for correcting
    assert setting(server, "mfa.trusted_networks") == []  # nothing saved, not even the good lines
    shots.step("trusted-bad-lines")
    many = [f"198.{n // 256}.{n % 256}.0/24" for n in range(5000)]  # about 80 KB pasted
    # As a paste puts it there (typing 80 KB key by key takes Chromium minutes).
    page.locator("#networks").evaluate("(box, text) => { box.value = text; }",
                                       "# a block list\n" + "\n".join(many) + "\n10.0.0.0/8\n")
    submit(page, "Add")
    assert "Added 5001 networks" in page.locator(".notice").inner_text()
    assert "5001 networks" in page.locator("main").inner_text()
    assert page.locator("tbody tr").count() == 100
    assert "Page 1 of 51" in page.locator(".pager").inner_text()
    page.get_by_role("link", name="Next").click()
    assert "198.0.100.0/24" in page.locator("tbody tr").first.inner_text()
    shots.step("trusted-page-2")
    page.get_by_role("button", name="Remove 198.0.150.0/24").click()
    assert "Removed 198.0.150.0/24; 5000 networks left" in page.locator(".notice").inner_text()
    stored = setting(server, "mfa.trusted_networks")
    assert len(stored) == 5000 and "198.0.150.0/24" not in stored and "10.0.0.0/8" in stored
    assert any(e[:3] == ("ann", "setting.set", "mfa.trusted_networks") for e in events(server))

    page.get_by_role("link", name="App passwords").click()
    row = page.locator("tbody tr", has_text="localhost").inner_text()
    assert "7" in row and "off" in row  # the client's days; switched off globally
    page.check("#enabled")
    submit(page, "Save")
    assert "allowed" in page.locator(".notice").inner_text()
    assert setting(server, "mfa.app_passwords") == ["true"]
    assert "deny" in page.locator("tbody tr", has_text="localhost").first.inner_text()
    shots.step("app-passwords")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(portal.url + "/trusted?page=51")
    shots.step("trusted-phone")
    page.select_option("#lang", "de")
    page.get_by_role("button", name="Change").click()
    page.goto(portal.url + "/trusted")
    page.fill("#networks", "10.0.0.1/8\n")
    page.get_by_role("button", name="Hinzufügen").click()
    assert page.get_by_role("heading", name="Vertrauenswürdige Netze").first.is_visible()
    assert "Nichts wurde gespeichert: 1 Zeilen sind keine Netze." in page.locator(".alert").first.inner_text()
    shots.step("trusted-german")


def test_hardware_tokens_import_assign_resync(stack, chromium, request, tmp_path: Path) -> None:  # noqa: ANN001
    server, portal, seeds = stack
    page = new_page(chromium, phone=False)
    shots = Shots(page, request.node.name)
    admin_sign_in(page, portal, None, "ann", seeds["ann"])
    page.get_by_role("link", name="Hardware tokens").click()
    seed32 = base64.b32encode(HOTP_SECRET).decode()
    bad = tmp_path / "bad.csv"
    bad.write_text(f"serial,secret,type\nH1,{seed32},hotp\nSHORT,{base64.b32encode(b'x' * 10).decode()},totp\n")
    page.set_input_files("#file", str(bad))
    submit(page, "Import")
    assert "Nothing was imported" in page.locator(".alert").inner_text()
    assert "token 'SHORT'" in page.locator(".alert").inner_text()
    assert "No unassigned hardware tokens" in page.locator("main").inner_text()
    good = tmp_path / "seeds.csv"
    good.write_text(f"serial,secret,type\nH1,{seed32},hotp\nT1,{base64.b32encode(b'y' * 20).decode()},totp\n")
    page.set_input_files("#file", str(good))
    submit(page, "Import")
    assert "Imported 2 hardware tokens (1 totp, 1 hotp) from seeds.csv" in page.locator(".notice").inner_text()
    table = page.locator("table").inner_text()
    assert "H1" in table and "T1" in table
    shots.step("tokens-imported")
    page.fill("#a-serial", "H1")
    page.fill("#a-name", "nobody")
    submit(page, "Assign")
    assert "no such user: nobody" in page.locator(".alert").inner_text()
    page.fill("#a-name", "alice")
    submit(page, "Assign")
    assert "Token H1 (hotp) is now alice's" in page.locator(".notice").inner_text()
    assert "H1" not in page.locator("table").inner_text()
    codes = [hotp(HOTP_SECRET, c).decode() for c in (300, 301, 303)]
    page.fill("#r-serial", "H1")
    page.fill("#code1", codes[0])
    page.fill("#code2", codes[2])
    submit(page, "Resynchronise")
    assert "not consecutive" in page.locator(".alert").inner_text()
    page.fill("#r-serial", "H1")
    page.fill("#code1", codes[0])
    page.fill("#code2", codes[1])
    submit(page, "Resynchronise")
    assert "the next code is number 302" in page.locator(".notice").inner_text()
    shots.step("tokens-resynced")
    assert "counter 301" in cli(server, "token", "list", "alice")
    mine = [e for e in events(server) if e[0] == "ann"]
    assert [e[1] for e in mine if e[1].startswith("token.")] == ["token.import", "token.assign", "token.resync"]


def test_directory_sync_preview_and_confirmed_removals(stack, chromium, request, directory) -> None:  # noqa: ANN001
    server, portal, seeds = stack
    page = new_page(chromium, phone=False)
    shots = Shots(page, request.node.name)
    admin_sign_in(page, portal, None, "ann", seeds["ann"])
    page.get_by_role("link", name="Directory sync").click()
    assert "No run has changed anything yet" in page.locator("main").inner_text()
    assert "has not run yet" in page.locator("#last-run").inner_text()
    submit(page, "Preview (change nothing)")
    plan = page.locator("ul.plan").inner_text()
    assert "create bob" in plan and "create temp0" in plan and "skipped 'alice'" in plan
    assert "4 to create" in page.locator("#plan-summary").inner_text()
    assert "bob" not in cli(server, "user", "list")  # a preview changes nothing
    shots.step("sync-preview")
    submit(page, "Run the sync")
    assert "4 created" in page.locator(".notice").inner_text()
    assert "ann" in page.locator("table").inner_text()  # the runs that changed something, by whom
    assert "ann · 4 created, 0 updated, 0 blocked" in page.locator("#last-run").inner_text()
    for person in LEAVERS[:2]:
        directory.delete(person.dn)
    submit(page, "Preview (change nothing)")
    assert "2 held back" in page.locator("#plan-summary").inner_text()  # more than max_removals = 1
    page.fill("#removals", "1")
    submit(page, "Run the sync")
    assert "Nothing was changed: 2 users left the directory" in page.locator(".alert").inner_text()
    assert "blocked" not in cli(server, "user", "show", "temp0")
    shots.step("sync-confirm-refused")
    page.fill("#removals", "2")
    submit(page, "Run the sync")
    assert "2 blocked" in page.locator(".notice").inner_text()
    assert "2 blocked" in page.locator("#last-run").inner_text()
    assert "blocked" in cli(server, "user", "show", "temp0")
    shots.step("sync-done")
    assert sum(e[0] == "ann" and e[1] == "directory.sync" for e in events(server)) == 2


def bulk_rows(n: int) -> list[AuditRecord]:
    """``n`` sign-ins of one user, several to a second (pages end between rows of one time)."""
    start = datetime(2025, 1, 1, tzinfo=UTC)
    return [AuditRecord(start + timedelta(seconds=i // 3), f"bulk-{i}", "localhost", "127.0.0.1", "bulk", "",
                        "totp", "accept" if i % 5 else "reject", "" if i % 5 else 'wrong code, "again"', 1.0)
            for i in range(n)]


def _csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_auditor_reads_reports_and_the_csv_equals_the_command(stack, chromium, radclient, request) -> None:  # noqa: ANN001
    server, portal, seeds = stack
    assert radius_login(radclient, server, "alice", "alice-pw").code == "Access-Challenge"
    assert radius_login(radclient, server, "alice", "wrong").code == "Access-Reject"
    cli(server, "bypass", "create", "alice", "--seconds", "600", "--reason", 'INC-1, "quoted"')
    page = new_page(chromium, phone=False)
    shots = Shots(page, request.node.name)
    admin_sign_in(page, portal, None, "aud", seeds["aud"])
    for hidden in ("Trusted networks", "Hardware tokens", "Directory sync", "App passwords"):
        assert page.get_by_role("link", name=hidden).count() == 0
    for path in ("/trusted", "/tokens", "/sync", "/app-passwords"):
        assert page.goto(portal.url + path).status == 403, path
    token = csrf_of(page)
    before = events(server)
    for path, form in (("/trusted/add", {"networks": "10.0.0.0/8"}), ("/app-passwords", {"enabled": "true"}),
                       ("/tokens/assign", {"serial": "x", "name": "alice"}), ("/sync/apply", {"removals": "0"})):
        assert post(page, portal, path, {"csrf": token, **form}) == 403, path
    assert events(server) == before
    page.goto(portal.url + "/")
    page.get_by_role("link", name="Reports").click()
    page.fill("#f-user", "alice")
    page.fill("#f-since", "2020-01-01")
    submit(page, "Show")
    assert "2 rows" in page.locator("#count").inner_text()
    shots.step("report-auth")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    exported = Path(download.value.path()).read_text(encoding="utf-8")
    expected = cli(server, "report", "auth", "--user", "alice", "--since", "2020-01-01", "--format", "csv")
    assert _csv(exported) == _csv(expected) and len(_csv(exported)) == 3
    filters = {
        "auth": {"result": "reject", "user": "alice"},
        "usage": {"by": "client"},
        "bypass": {"user": "alice", "status": "open"},
        "fraud": {"since": "2020-01-01"},
        "admin": {"limit": "3"},
    }
    for kind, given in filters.items():
        query = "&".join(f"{k}={v}" for k, v in given.items())
        response = page.context.request.get(f"{portal.url}/reports/{kind}.csv?{query}")
        assert response.status == 200 and response.headers["content-type"].startswith("text/csv")
        argv = [a for k, v in given.items() for a in (f"--{k}", v)]
        expected = cli(server, "report", kind, *argv, "--format", "csv")
        assert _csv(response.text()) == _csv(expected), kind
        assert len(_csv(expected)) >= (1 if kind == "fraud" else 2), kind  # a header and, but for fraud, rows
    # More rows than a page of the store (5,000): streamed, the same bytes as the command's.
    in_store(server, lambda store: store.write_audit(bulk_rows(12_001)))
    response = page.context.request.get(f"{portal.url}/reports/auth.csv?user=bulk&since=2020-01-01")
    assert response.status == 200 and "content-length" not in response.headers  # sent as it is read
    assert response.headers["cache-control"] == "no-store" and "content-security-policy" in response.headers
    expected = cli(server, "report", "auth", "--user", "bulk", "--since", "2020-01-01", "--format", "csv")
    assert response.text().splitlines() == expected.splitlines() and len(_csv(expected)) == 12_002
    bad = page.context.request.get(f"{portal.url}/reports/auth.csv?since=yesterday-ish")
    assert bad.status == 400 and "since" in bad.text()
    page.goto(portal.url + "/reports?kind=bypass&user=alice&run=1")
    assert 'INC-1, "quoted"' in page.locator("table").inner_text()
    shots.step("report-bypass")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(portal.url + "/reports?kind=usage&by=day&run=1")
    shots.step("report-usage-phone")


def test_helpdesk_has_no_reports_nor_policy_pages(stack, chromium) -> None:  # noqa: ANN001
    server, portal, seeds = stack
    page = new_page(chromium, phone=False)
    admin_sign_in(page, portal, None, "hal", seeds["hal"])
    assert page.get_by_role("link", name="Reports").count() == 0
    for path in ("/reports", "/reports/auth.csv", "/trusted", "/tokens", "/sync", "/app-passwords"):
        assert page.goto(portal.url + path).status == 403, path

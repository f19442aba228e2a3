"""End-to-end: applications (ldapsearch, ldapwhoami, python ldap3) bind to
radmfa's LDAP front end (a real process) in front of slapd, with push
through the fake ntfy and inline codes."""

from __future__ import annotations

import base64
import secrets
import time

import pyotp
import pytest
from ldap3 import MODIFY_REPLACE, Connection, Server

from radmfa.core.model import NewToken
from tests.fakes.server import free_tcp_port
from tests.integration.ldap_front_env import (
    APP,
    SECRETS,
    VAULT,
    Front,
    apps,  # noqa: F401
    audit_rows,
    directory,  # noqa: F401
    front_toml,
    ldap_tool,
    start_front,
    upstream_toml,
)
from tests.integration.phone_env import add_user, cli, in_store, peers  # noqa: F401
from tests.peers.slapd import ALICE, BASE_DN, BOB, SERVICE_DN, SERVICE_PW

pytestmark = pytest.mark.integration
MOBILE = "+14155550123"


def search_lines(result) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith(("dn:", "mobile:"))]


def test_push_approved_bind_then_search_sees_what_the_user_may_read(radmfa_factory, peers, directory, apps):  # noqa: F811
    front = start_front(radmfa_factory, peers, directory)
    add_user(front.server, "alice", None, mobile=MOBILE, default_method="push")
    peers.ntfy.tap_label = "Approve"
    with front.server:
        who = ldap_tool(front, "ldapwhoami", "-x", "-H", front.ldaps, "-D", ALICE.dn, "-w", ALICE.password)
        assert who.returncode == 0, who.stderr + front.server.log_text()
        assert who.stdout.strip() == f"dn:{ALICE.dn}"  # the directory sees alice, not a service account
        found = ldap_tool(front, "ldapsearch", "-x", "-LLL", "-H", front.ldaps, "-D", ALICE.dn, "-w", ALICE.password,
                          "-b", BASE_DN, "(|(uid=alice)(uid=bob)(cn=vault))", "mobile")
        assert found.returncode == 0, found.stderr
    # alice reads her own mobile, not bob's, and nothing under ou=secrets ...
    assert search_lines(found) == [f"dn: {ALICE.dn}", f"mobile: {ALICE.mobile}", f"dn: {BOB.dn}"]
    # ... which the service account, asked directly, does see
    direct = Connection(Server("127.0.0.1", port=directory.port), SERVICE_DN, SERVICE_PW, auto_bind=True)
    direct.search(BASE_DN, "(|(uid=alice)(uid=bob)(cn=vault))", attributes=["mobile"])
    assert sorted(e.entry_dn for e in direct.entries) == sorted([ALICE.dn, BOB.dn, VAULT])
    assert BOB.mobile in {str(e.mobile) for e in direct.entries}
    direct.unbind()
    # two binds (whoami, then search) within rebind_seconds: one push
    assert len(peers.ntfy.published) == 1
    keys = ("client", "client_ip", "user", "result", "reason", "factor")
    rows = [tuple(r[k] for k in keys) for r in audit_rows(front.server)]
    assert rows == [
        (APP, "127.0.0.1", "alice", "accept", "push approved", "push"),
        (APP, "127.0.0.1", "alice", "accept", "rebind within 10 s", "none"),
    ]



def bind_result(conn: Connection) -> tuple[int, str, str]:
    return conn.result["result"], conn.result["description"], conn.result["message"]


def test_every_refusal_is_49_saying_nothing_and_a_wrong_password_pushes_nothing(
    radmfa_factory, peers, directory, apps  # noqa: F811
):
    front = start_front(radmfa_factory, peers, directory)
    add_user(front.server, "alice", None, mobile=MOBILE, default_method="push")
    peers.ntfy.tap_label = "Deny"
    with front.server:
        wrong = apps.bind(front, front.ldaps, ALICE.dn, "not-alice-pw")
        nobody = apps.bind(front, front.ldaps, f"uid=nobody,ou=people,{BASE_DN}", "whatever")
        assert peers.ntfy.published == []  # no push for a wrong password, nor for nobody
        denied = apps.bind(front, front.ldaps, ALICE.dn, ALICE.password)
        assert len(peers.ntfy.published) == 1
    # the same answer whichever part failed
    assert bind_result(wrong) == bind_result(nobody) == bind_result(denied) == (49, "invalidCredentials", "")
    reasons = [r["reason"] for r in audit_rows(front.server)]
    assert reasons == ["wrong password", "unknown user", "denied"]


def test_three_binds_in_a_row_push_once_and_a_wrong_password_ends_the_reuse(
    radmfa_factory, peers, directory, apps  # noqa: F811
):
    front = start_front(radmfa_factory, peers, directory)
    add_user(front.server, "alice", None, mobile=MOBILE, default_method="push")
    peers.ntfy.tap_label = "Approve"
    with front.server:
        # an application that binds to test the password, to read groups, and per request
        binds = [apps.bind(front, front.ldaps, ALICE.dn, ALICE.password) for _ in range(3)]
        assert [c.bound for c in binds] == [True, True, True]
        assert len(peers.ntfy.published) == 1
        assert binds[2].extend.standard.who_am_i() == f"dn:{ALICE.dn}"
        assert not apps.bind(front, front.ldaps, ALICE.dn, "guess").bound
        assert apps.bind(front, front.ldaps, ALICE.dn, ALICE.password).bound
        assert len(peers.ntfy.published) == 2  # after the wrong password: a push again
    reasons = [r["reason"] for r in audit_rows(front.server)]
    assert reasons == ["push approved", "rebind within 10 s", "rebind within 10 s", "wrong password", "push approved"]


def test_inline_code_over_starttls_and_no_challenge_without_a_code(radmfa_factory, peers, directory, apps):  # noqa: F811
    front = start_front(radmfa_factory, peers, directory)
    seed = secrets.token_bytes(20)
    add_user(front.server, "bob", None, push_enrolled=False)
    in_store(front.server, lambda store: store.add_token("bob", NewToken("totp", seed)))
    totp = pyotp.TOTP(base64.b32encode(seed).decode())
    with front.server:
        code = totp.now()
        password = f"{BOB.password},{code}"
        who = ldap_tool(front, "ldapwhoami", "-x", "-ZZ", "-H", front.ldap, "-D", BOB.dn, "-w", password)
        assert who.returncode == 0, who.stderr + front.server.log_text()
        assert who.stdout.strip() == f"dn:{BOB.dn}"
        # the same bind again soon (the code is spent): the completed MFA is reused
        again = apps.bind(front, front.ldap, BOB.dn, f"{BOB.password},{code}", start_tls=True)
        assert again.bound and again.extend.standard.who_am_i() == f"dn:{BOB.dn}"
        # no code: LDAP cannot ask for one, and bob has no push or call
        bare = apps.bind(front, front.ldap, BOB.dn, BOB.password, start_tls=True)
        assert bind_result(bare) == (49, "invalidCredentials", "")
        # a name rather than a DN, over ldap:// from loopback without TLS
        plain = apps.bind(front, front.ldap, "bob", f"{BOB.password},{totp.at(time.time() + 30)}")
        assert plain.bound and plain.extend.standard.who_am_i() == f"dn:{BOB.dn}"
    assert peers.ntfy.published == []
    reasons = [r["reason"] for r in audit_rows(front.server)]
    assert reasons[:3] == ["password and inline code", "rebind within 10 s", "no call or push method for an oob client"]


def test_service_bind_passes_without_mfa_anonymous_and_writes_refused(radmfa_factory, peers, directory, apps):  # noqa: F811
    front = start_front(radmfa_factory, peers, directory)
    with front.server:
        svc = apps.bind(front, front.ldaps, SERVICE_DN, SERVICE_PW)
        assert svc.bound and svc.extend.standard.who_am_i() == f"dn:{SERVICE_DN}"
        svc.search(SECRETS, "(objectClass=*)")  # its own rights, not more
        assert [e.entry_dn for e in svc.entries] == [SECRETS, VAULT]
        svc.modify(VAULT, {"description": [(MODIFY_REPLACE, ["changed"])]})
        assert svc.result["result"] == 53  # unwillingToPerform: only reads pass
        assert bind_result(apps.bind(front, front.ldaps, SERVICE_DN, "wrong")) == (49, "invalidCredentials", "")
        anonymous = apps.bind(front, front.ldaps, "", "")
        assert anonymous.result["result"] == 48  # inappropriateAuthentication
        anonymous.search(BASE_DN, "(objectClass=*)")
        assert anonymous.result["result"] == 50  # insufficientAccessRights: bind first
    assert peers.ntfy.published == []
    rows = [(r["user"], r["result"], r["reason"]) for r in audit_rows(front.server)]
    assert rows == [
        (SERVICE_DN, "accept", "service bind"),
        (SERVICE_DN, "reject", "service bind refused (LDAP result 49)"),
        ("", "reject", "anonymous bind not allowed"),
    ]


def test_anonymous_operations_when_allowed_run_anonymously(radmfa_factory, peers, directory, apps):  # noqa: F811
    front = start_front(radmfa_factory, peers, directory, more="allow_anonymous = true")
    with front.server:
        anonymous = apps.bind(front, front.ldaps, "", "")
        assert anonymous.bound
        assert anonymous.extend.standard.who_am_i() in ("", None)
        anonymous.search(BASE_DN, "(uid=alice)")
        # the directory shows anonymous nothing
        assert anonymous.result["result"] in (0, 32) and anonymous.entries == []
        alice = ldap_tool(front, "ldapsearch", "-x", "-LLL", "-H", front.ldaps, "-b", BASE_DN, "(uid=alice)", "1.1")
        assert alice.returncode in (0, 32) and "dn:" not in alice.stdout  # unbound: anonymous too


def test_app_password_binds_without_a_directory_identity(radmfa_factory, peers, directory, apps):  # noqa: F811
    front = start_front(radmfa_factory, peers, directory, mfa="app_passwords = true\n")
    add_user(front.server, "alice", None, mobile=MOBILE, default_method="push")
    password = cli(front.server, "apppass", "create", "alice", "--name", "Wiki").splitlines()[-1]
    with front.server:
        conn = apps.bind(front, front.ldaps, ALICE.dn, password)
        assert conn.bound
        conn.search(BASE_DN, "(uid=alice)")
        assert conn.result["result"] == 50  # the directory does not know an app password: nothing runs as alice
    assert peers.ntfy.published == []
    assert [r["reason"] for r in audit_rows(front.server)] == ["app-password"]


def test_a_block_ends_the_reuse_of_a_completed_bind(radmfa_factory, peers, directory, apps):  # noqa: F811
    front = start_front(radmfa_factory, peers, directory)
    add_user(front.server, "alice", None, mobile=MOBILE, default_method="push")
    peers.ntfy.tap_label = "Approve"
    with front.server:
        assert apps.bind(front, front.ldaps, ALICE.dn, ALICE.password).bound
        cli(front.server, "user", "set", "alice", "--state", "blocked")
        assert bind_result(apps.bind(front, front.ldaps, ALICE.dn, ALICE.password)) == (49, "invalidCredentials", "")
    assert [r["reason"] for r in audit_rows(front.server)] == ["push approved", "blocked"]


def test_audit_rows_in_the_store_name_the_ldap_client_as_the_nas(radmfa_factory, peers, directory, apps):  # noqa: F811
    front = start_front(radmfa_factory, peers, directory)
    add_user(front.server, "alice", None, mobile=MOBILE, default_method="push", first_name="Alice")
    peers.ntfy.tap_label = "Approve"
    with front.server:
        assert apps.bind(front, front.ldaps, ALICE.dn, ALICE.password).bound
    rows = in_store(front.server, lambda store: store.query_audit(username="alice"))
    assert [(r.client_name, r.client_ip, r.calling_station_id, r.user_ip, r.factor, r.result) for r in rows] == [
        (APP, "127.0.0.1", "127.0.0.1", "127.0.0.1", "push", "accept")
    ]
    report = cli(front.server, "report", "usage", "--by", "client")
    assert APP in report


def test_without_phone_factors_a_bind_needs_its_code_inline(radmfa_factory, directory, apps):  # noqa: F811
    """No push or call configured: the pipeline would open a challenge, which
    LDAP cannot carry; the bind is refused and the code must come inline."""
    ldaps_port, ldap_port = free_tcp_port(), free_tcp_port()
    server = radmfa_factory(upstream=upstream_toml(directory), extra=front_toml(directory, ldaps_port, ldap_port))
    seed = secrets.token_bytes(20)
    server.add_users(("alice", None, seed))
    front = Front(server, f"ldaps://127.0.0.1:{ldaps_port}", "", str(directory.pki.ca_file))
    with server:
        bare = apps.bind(front, front.ldaps, ALICE.dn, ALICE.password)
        assert bind_result(bare) == (49, "invalidCredentials", "")
        code = pyotp.TOTP(base64.b32encode(seed).decode()).now()
        assert apps.bind(front, front.ldaps, ALICE.dn, f"{ALICE.password},{code}").bound
    assert [r["reason"] for r in audit_rows(server)] == [
        "challenge sent (no challenge in LDAP)", "password and inline code"
    ]


def test_a_dn_that_does_not_spell_the_user_name_is_looked_up(radmfa_factory, peers, directory, apps):  # noqa: F811
    """As AD's CN=Alice Smith,…: users are named by mail here, which the DN
    does not contain; the service account reads it from the entry."""
    by_mail = 'user_filter = "(mail={user})"\nstrip_realm = false\n'
    front = start_front(radmfa_factory, peers, directory, upstream=by_mail)
    add_user(front.server, "alice@example.org", None, mobile=MOBILE, default_method="push")
    peers.ntfy.tap_label = "Approve"
    with front.server:
        conn = apps.bind(front, front.ldaps, ALICE.dn, ALICE.password)
        assert conn.bound, front.server.log_text()
        assert conn.extend.standard.who_am_i() == f"dn:{ALICE.dn}"
        outside = apps.bind(front, front.ldaps, "uid=alice,ou=people,dc=elsewhere,dc=org", ALICE.password)
        assert bind_result(outside) == (49, "invalidCredentials", "")  # outside base_dn: nobody radmfa knows
    assert [(r["user"], r["reason"]) for r in audit_rows(front.server)] == [
        ("alice@example.org", "push approved"),
        ("uid=alice,ou=people,dc=elsewhere,dc=org", "bind name names no user"),
    ]
    assert len(peers.ntfy.published) == 1

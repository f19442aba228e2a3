"""End-to-end: applications (ldapsearch, ldapwhoami, python ldap3) bind to
radmfa's LDAP front end (a real process) in front of slapd, with push
through the fake ntfy and inline codes."""

from __future__ import annotations

import pytest
from ldap3 import Connection, Server, Tls

from tests.integration.ldap_front_env import (
    APP,
    VAULT,
    audit_rows,
    directory,  # noqa: F401
    ldap_tool,
    start_front,
)
from tests.integration.phone_env import add_user, in_store, peers  # noqa: F401
from tests.peers.slapd import ALICE, BASE_DN, BOB, SERVICE_DN, SERVICE_PW

pytestmark = pytest.mark.integration
MOBILE = "+14155550123"


def search_lines(result) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith(("dn:", "mobile:"))]


def test_push_approved_bind_then_search_sees_what_the_user_may_read(radmfa_factory, peers, directory):  # noqa: F811
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
    rows = [(r["client"], r["client_ip"], r["user"], r["result"], r["reason"], r["factor"]) for r in audit_rows(front.server)]
    assert rows == [
        (APP, "127.0.0.1", "alice", "accept", "push approved", "push"),
        (APP, "127.0.0.1", "alice", "accept", "rebind within 10 s", "none"),
    ]


"""The user radmfa decides on is the user the upstream authenticates.

radclient (NAS) → radmfa (real process) → FreeRADIUS (upstream), with
``unknown_users = "password-only"`` and alice enrolled: a spelling of alice
that radmfa's store key does not take for alice but the upstream does (a C
server stops at NUL) would get in on alice's password alone. Every such
spelling is refused before the upstream is asked (audit reason
``bad user name``), and an upstream Access-Accept naming another user is
refused too.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import pytest

from radmfa.cli.runner import run_with_store
from radmfa.config import load
from radmfa.core.policy import printable
from radmfa.radius import crypto, wire
from tests.integration.harness import NAS_SECRET, Radmfa
from tests.integration.test_foundation import upstream_cfg
from tests.peers.fixtures import ALICE, BOB, UPSTREAM_SECRET
from tests.peers.freeradius import FreeRadius, FreeRadiusUser
from tests.peers.rawnas import RawNas

pytestmark = pytest.mark.integration

# (what the NAS sends as User-Name, why it is no name)
SPELLINGS = [
    (b"alice\x00", "NUL: a C upstream reads alice"),
    (b"alice\x00x", "NUL inside"),
    (b"alice\x00@corp.example", "NUL before a realm"),
    (b"\x00alice", "leading NUL"),
    (b"alice\x7f", "DEL (Cc)"),
    (b"alice\x1b", "ESC (Cc)"),
    ("alice\u0085".encode(), "NEL (Cc, a line break to LDAP)"),
    (b"alice\t", "TAB (Cc)"),
    (b"ali\nce", "LF inside"),
    ("alice\u200b".encode(), "zero-width space (Cf)"),
    ("al\u00adice".encode(), "soft hyphen (Cf)"),
    ("\u202ealice".encode(), "right-to-left override (Cf)"),
    ("alice\ufeff".encode(), "byte-order mark (Cf)"),
    ("ali\u034fce".encode(), "combining grapheme joiner (ignored by LDAP)"),
    ("alice\ufe0f".encode(), "variation selector (ignored by LDAP)"),
    ("alice\u3164".encode(), "Hangul filler (default-ignorable)"),
    ("alice\u2028".encode(), "line separator (Zl)"),
    ("alice\u00a0".encode(), "no-break space (Zs)"),
    ("al\u2003ice".encode(), "em space (Zs)"),
    (b"alice ", "trailing space: the key drops it, the upstream does not"),
    (b" alice", "leading space"),
    (b"al  ice", "two spaces: LDAP matches them as one"),
    ("alice\uff20corp.example".encode(), "full-width @: the key would cut a realm there"),
    ("corp\uff3calice".encode(), "full-width backslash"),
    (b"alice\xff", "not UTF-8"),
    (b"alice\xc0\x80", "overlong UTF-8 NUL (modified UTF-8)"),
    (b"\xc1\xa1lice", "overlong UTF-8 a"),
    (b"alice\xed\xa0\x80", "UTF-8-encoded surrogate"),
    (b"alice\xf4\x90\x80\x80", "beyond U+10FFFF"),
    (b"CORP\\", "nothing left once the domain goes"),
    (b"@corp.example", "nothing left once the realm goes"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory, freeradius_upstream) -> Iterator[Radmfa]:
    """radmfa in front of FreeRADIUS (alice, bob), password-only, alice enrolled."""
    tmp = tmp_path_factory.mktemp("names")
    radmfa = Radmfa(tmp, upstream=upstream_cfg(freeradius_upstream.address), mfa='unknown_users = "password-only"')
    radmfa.write_config()
    radmfa.add_users(("alice", None, secrets.token_bytes(20)))
    with radmfa:
        yield radmfa


def auth_events(server: Radmfa, station: str) -> list[dict[str, object]]:
    return [e for e in server.events() if e.get("event") == "auth" and e.get("calling_station_id") == station]


def wait_for_event(server: Radmfa, station: str) -> dict[str, object]:
    """The audit event of the request from ``station`` (written after the reply)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = auth_events(server, station)
        if found:
            return found[-1]
        time.sleep(0.05)
    raise AssertionError(f"no auth event for {station}; radmfa's log:\n{server.log_text()[-4000:]}")


def logins_seen(fr: FreeRadius) -> int:
    return fr.log_tail(100_000).count("Auth: (")


@pytest.mark.parametrize(("name", "why"), SPELLINGS, ids=[why for _, why in SPELLINGS])
def test_a_name_that_is_not_one_user_is_refused_before_the_upstream(
    server, freeradius_upstream, radclient, name, why
):
    station = f"st-{secrets.token_hex(4)}"
    asked = logins_seen(freeradius_upstream)
    reply = radclient(
        server.address, NAS_SECRET,
        [[("User-Name", name), ("User-Password", "alice-pw"), ("Calling-Station-Id", station)]], timeout=5,
    )[0]
    assert reply.code == "Access-Reject", (why, reply.raw)
    event = wait_for_event(server, station)
    assert event["reason"] == "bad user name", (why, event)
    assert event["user"] == printable(name)  # radclient sent exactly these octets
    assert logins_seen(freeradius_upstream) == asked  # refused before the password went anywhere


def test_an_empty_user_name_is_refused(server):
    station = f"st-{secrets.token_hex(4)}"
    # A User-Name of length 2 (no value), which radclient will not send.
    ra = crypto.new_authenticator()
    body = bytes((wire.USER_NAME, 2)) + wire.encode_attrs([
        (wire.USER_PASSWORD, crypto.hide_password(b"alice-pw", NAS_SECRET.encode(), ra)),
        (wire.CALLING_STATION_ID, station.encode()),
    ])
    data = crypto.sign_request(wire.ACCESS_REQUEST, 9, ra, body, NAS_SECRET.encode())
    with RawNas(("127.0.0.1", server.port), timeout=5) as nas:
        reply = nas.exchange(data)
    assert reply is not None and reply[0] == wire.ACCESS_REJECT
    assert wait_for_event(server, station)["reason"] == "bad user name"


def test_alice_herself_still_gets_her_challenge(server, radclient):
    for name in ("alice", "ALICE", "CORP\\alice", "alice@corp.example", "\uff41\uff4c\uff49\uff43\uff45"):
        reply = radclient(server.address, NAS_SECRET, [{"User-Name": name, "User-Password": "alice-pw"}])[0]
        if name == "alice":
            assert reply.code == "Access-Challenge", reply.raw
        else:  # her key: never password-only (this upstream knows only "alice" and rejects)
            assert reply.code in ("Access-Challenge", "Access-Reject"), reply.raw


def test_an_unknown_user_still_gets_in_on_the_password(server, radclient):
    reply = radclient(server.address, NAS_SECRET, [{"User-Name": "bob", "User-Password": "bob-pw"}])[0]
    assert reply.code == "Access-Accept" and reply.get("Filter-Id") == "admins"


# -- the upstream's Access-Accept names another user -------------------------------


@pytest.fixture(scope="module")
def renaming(tmp_path_factory, freeradius_module_factory) -> Iterator[Radmfa]:
    """FreeRADIUS answers some logins with a User-Name of its own (RFC 2865
    §5.1: an Accept MAY carry the name to use): carol's names bob, dave's
    himself in another spelling, erin's no valid name, frank's two names.
    bob is enrolled."""
    fr = freeradius_module_factory(
        secret=UPSTREAM_SECRET,
        users=[
            ALICE,
            BOB,
            FreeRadiusUser("carol", "carol-pw", reply={"User-Name": "bob", "Filter-Id": "carol"}),
            FreeRadiusUser("dave", "dave-pw", reply={"User-Name": "CORP\\DAVE", "Filter-Id": "dave"}),
            FreeRadiusUser("erin", "erin-pw", reply={"User-Name": "erin "}),
            FreeRadiusUser("frank", "frank-pw", reply_lines=[("User-Name", "frank"), ("User-Name", "bob")]),
        ],
    )
    tmp = tmp_path_factory.mktemp("renaming")
    radmfa = Radmfa(tmp, upstream=upstream_cfg(fr.address), mfa='unknown_users = "password-only"')
    radmfa.write_config()
    radmfa.add_users(("bob", None, secrets.token_bytes(20)))
    with radmfa:
        yield radmfa


def test_an_accept_for_another_user_is_refused(renaming, radclient):
    station = f"st-{secrets.token_hex(4)}"
    reply = radclient(
        renaming.address, NAS_SECRET,
        [{"User-Name": "carol", "User-Password": "carol-pw", "Calling-Station-Id": station}],
    )[0]
    # radmfa looked up carol (unknown: password only); the upstream says bob
    # logged in, and bob is enrolled.
    assert reply.code == "Access-Reject", reply.raw
    assert wait_for_event(renaming, station)["reason"] == "directory names another user"


def test_an_accept_naming_the_same_user_another_way_is_that_user(renaming, radclient):
    reply = radclient(renaming.address, NAS_SECRET, [{"User-Name": "dave", "User-Password": "dave-pw"}])[0]
    assert reply.code == "Access-Accept" and reply.get("Filter-Id") == "dave"  # unknown: password only


def test_an_accept_naming_two_users_is_refused(renaming, radclient):
    station = f"st-{secrets.token_hex(4)}"
    reply = radclient(
        renaming.address, NAS_SECRET,
        [{"User-Name": "frank", "User-Password": "frank-pw", "Calling-Station-Id": station}],
    )[0]
    assert reply.code == "Access-Reject", reply.raw
    assert wait_for_event(renaming, station)["reason"] == "several User-Names from upstream"


def test_an_accept_naming_no_valid_user_is_refused(renaming, radclient):
    station = f"st-{secrets.token_hex(4)}"
    reply = radclient(
        renaming.address, NAS_SECRET,
        [{"User-Name": "erin", "User-Password": "erin-pw", "Calling-Station-Id": station}],
    )[0]
    assert reply.code == "Access-Reject", reply.raw
    assert wait_for_event(renaming, station)["reason"] == "directory names another user"


# -- what is recorded about a refused name ------------------------------------------


def test_refused_names_are_audited_readably_on_postgresql(
    tmp_path, freeradius_upstream, radclient, fresh_postgres_url
):
    # PostgreSQL text holds no NUL: a row with the raw name would fail the
    # audit batch it is in, again at every retry, and with it every other row.
    radmfa = Radmfa(
        tmp_path, upstream=upstream_cfg(freeradius_upstream.address), mfa='unknown_users = "password-only"',
        store_url=fresh_postgres_url, key_file=str(tmp_path / "k"),
    )
    radmfa.write_config()
    with radmfa:
        for name, station in ((b"alice\x00", "nul\x00station"), (b"bob", "st-bob")):
            radclient(radmfa.address, NAS_SECRET,
                      [[("User-Name", name), ("User-Password", "pw"), ("Calling-Station-Id", station.encode())]])
        wait_for_event(radmfa, "st-bob")
    rows = run_with_store(load(radmfa.config_path), lambda store: store.query_audit())
    assert sorted((r.username, r.calling_station_id, r.reason) for r in rows) == [
        ("alice\\x00", "nul\\x00station", "bad user name"),
        ("bob", "st-bob", "upstream reject"),
    ]


# -- the LDAP upstream applies the same rule to the name it searches and binds -----


@pytest.mark.parametrize("name", ["alice\x00", "al\u00adice", "ali\u200bce", "alice ", "alice\u2003", "al  ice"])
def test_the_ldap_upstream_never_searches_or_binds_a_bad_name(slapd, tmp_path, name):
    from tests.integration.test_ldap_upstream import auth, make_upstream, search_cfg

    up = make_upstream(tmp_path, search_cfg(f'"{slapd.ldaps_url}"', f'ca_file = "{slapd.pki.ca_file}"\n'))
    # slapd matches uid per RFC 4518 (soft hyphen and zero-width space
    # dropped, spaces folded): each of these would bind as alice.
    assert auth(up, name, b"alice-pw") == (False, "bad user name")

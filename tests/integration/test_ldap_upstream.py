"""LdapUpstream against a real slapd: binds, escaping, groups, TLS, pooled
connections, the server's own size limit. Failover: test_ldap_failover.py."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from radmfa.config import load
from radmfa.core.model import AuthRequest, PrimaryResult
from radmfa.errors import UpstreamUnavailable
from radmfa.upstream import ldap as ldap_upstream
from radmfa.upstream.ldap import LdapUpstream
from tests.peers.slapd import BASE_DN, PEOPLE, SERVICE_DN, SERVICE_PW, VPN_GROUP, Slapd

pytestmark = pytest.mark.integration


def request(user: str) -> AuthRequest:
    return AuthRequest("r1", "localhost", "127.0.0.1", user.encode(), None, None, "", b"\0" * 16, ())


def search_cfg(servers: str, extra: str = "", *, timeout_s: float = 10.0) -> str:
    """Search-then-bind. The default timeout is generous (TLS on a busy
    machine); tests of silent servers pass a short one."""
    return (
        f'type = "ldap"\nservers = [{servers}]\nbind_dn = "{SERVICE_DN}"\nbind_password = "{SERVICE_PW}"\n'
        f'base_dn = "{BASE_DN}"\nuser_filter = "(&(objectClass=inetOrgPerson)(uid={{user}}))"\n'
        f"timeout_s = {timeout_s}\n{extra}"
    )


def make_upstream(tmp_path: Path, body: str) -> LdapUpstream:
    path = tmp_path / "radmfa.toml"
    path.write_text(f"[upstream]\n{body}\n")
    return LdapUpstream(load(path).upstream)


def auth(upstream: LdapUpstream, user: str, password: bytes) -> tuple[bool, str]:
    async def run() -> tuple[bool, str]:
        try:
            r = await upstream.authenticate(request(user), password)
            return r.accepted, r.reason
        finally:
            await upstream.close()

    return asyncio.run(run())


def logins(up: LdapUpstream, *attempts: tuple[str, bytes]) -> list[PrimaryResult]:
    """Each (user, password) in turn on one upstream, then close it."""

    async def go() -> list[PrimaryResult]:
        try:
            return [await up.authenticate(request(user), pw) for user, pw in attempts]
        finally:
            await up.close()

    return asyncio.run(go())


@pytest.fixture
def tls(slapd: Slapd) -> str:
    return f'ca_file = "{slapd.pki.ca_file}"\n'


@pytest.mark.parametrize(
    ("user", "password", "accepted", "reason"),
    [
        ("alice", b"alice-pw", True, "ldap bind ok"),
        ("ALICE", b"alice-pw", True, "ldap bind ok"),
        ("CORP\\alice", b"alice-pw", True, "ldap bind ok"),
        ("alice", b"wrong", False, "wrong password"),
        ("alice", b"", False, "empty password"),
        ("nobody", b"x", False, "unknown user"),
        ("*", b"alice-pw", False, "unknown user"),
        ("alice)(uid=*", b"alice-pw", False, "unknown user"),
        ("*)(|(uid=*", b"bob-pw", False, "unknown user"),
        ("star*user", b"star-pw", True, "ldap bind ok"),  # escaped, still matches itself
    ],
)
def test_search_then_bind_over_starttls(slapd, tls, tmp_path, user, password, accepted, reason):
    up = make_upstream(tmp_path, search_cfg(f'"{slapd.url}"', tls + "start_tls = true\n"))
    assert auth(up, user, password) == (accepted, reason)


def test_required_group_with_member_check(slapd, tls, tmp_path):
    cfg = search_cfg(f'"{slapd.ldaps_url}"', tls + f'require_group = "{VPN_GROUP}"\ngroup_check = "member"\n')
    assert auth(make_upstream(tmp_path, cfg), "alice", b"alice-pw") == (True, "ldap bind ok")
    assert auth(make_upstream(tmp_path, cfg), "bob", b"bob-pw") == (False, "not in the required group")
    # a wrong password says so, not whether the user is in the group
    assert auth(make_upstream(tmp_path, cfg), "bob", b"nope") == (False, "wrong password")


def test_bind_dn_template_over_ldaps(slapd, tls, tmp_path):
    cfg = f'type = "ldap"\nservers = ["{slapd.ldaps_url}"]\nbind_dn_template = "uid={{user}},{PEOPLE}"\n{tls}'
    assert auth(make_upstream(tmp_path, cfg), "alice", b"alice-pw") == (True, "ldap bind ok")
    assert auth(make_upstream(tmp_path, cfg), "alice", b"bad") == (False, "wrong password")
    # RFC 4514 escaping: the name cannot add RDNs or change the DN
    assert auth(make_upstream(tmp_path, cfg), "alice,ou=people", b"alice-pw") == (False, "wrong password")
    group = f'require_group = "{VPN_GROUP}"\ngroup_check = "member"\n'
    assert auth(make_upstream(tmp_path, cfg + group), "bob", b"bob-pw") == (False, "not in the required group")


@pytest.mark.parametrize("scheme", ["ldaps", "starttls"])
def test_wrong_ca_is_refused(slapd, tmp_path, scheme):
    url = slapd.ldaps_url if scheme == "ldaps" else slapd.url
    extra = f'ca_file = "{slapd.pki.wrong_ca_file}"\n' + ("start_tls = true\n" if scheme == "starttls" else "")
    up = make_upstream(tmp_path, search_cfg(f'"{url}"', extra))
    with pytest.raises(UpstreamUnavailable):
        auth(up, "alice", b"alice-pw")


def test_host_name_is_verified(slapd, tmp_path):
    # slapd answers on 127.0.0.2 too, with a certificate naming only 127.0.0.1 and localhost.
    host_url = slapd.ldaps_url.replace("127.0.0.1", "127.0.0.2")
    up = make_upstream(tmp_path, search_cfg(f'"{host_url}"', f'ca_file = "{slapd.pki.ca_file}"\n'))
    with pytest.raises(UpstreamUnavailable):
        auth(up, "alice", b"alice-pw")
    # The same server with verification off (a lab setting) answers: it was the name.
    lab = make_upstream(tmp_path, search_cfg(f'"{host_url}"', "verify = false\n"))
    assert auth(lab, "alice", b"alice-pw") == (True, "ldap bind ok")


def test_event_loop_keeps_running_during_a_slow_bind(tmp_path, silent_port):
    up = make_upstream(tmp_path, search_cfg(f'"ldap://127.0.0.1:{silent_port}"', timeout_s=3))

    async def run() -> int:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.05)
                ticks += 1

        ticker = asyncio.create_task(tick())
        try:
            with pytest.raises(UpstreamUnavailable):
                await up.authenticate(request("alice"), b"alice-pw")
        finally:
            ticker.cancel()
            await up.close()
        return ticks

    assert asyncio.run(run()) >= 10  # about 60 in the 3 s; a blocked loop would count none


def test_pooled_connections_never_carry_another_users_identity(slapd, tls, tmp_path):
    # Template mode checks the group on the user's own connection: right after
    # bob binds on the connection alice used, the check must run as bob.
    cfg = (f'type = "ldap"\nservers = ["{slapd.ldaps_url}"]\nbind_dn_template = "uid={{user}},{PEOPLE}"\n{tls}'
           f'require_group = "{VPN_GROUP}"\ngroup_check = "member"\npool_size = 1\n')
    up = make_upstream(tmp_path, cfg)

    async def run() -> list[tuple[bool, str]]:
        out = []
        try:
            for user, pw in (("alice", b"alice-pw"), ("bob", b"nope"), ("bob", b"bob-pw"), ("alice", b"alice-pw")):
                r = await up.authenticate(request(user), pw)
                out.append((r.accepted, r.reason))
            # The server closed every idle connection (a restart, an idle timeout):
            # the next login opens new ones, and the server is not marked dead.
            for conns in up._idle.values():
                for conn in conns:
                    conn.socket.close()
            r = await up.authenticate(request("alice"), b"alice-pw")
            out.append((r.accepted, r.reason))
            assert up.healthy()
        finally:
            await up.close()
        return out

    assert asyncio.run(run()) == [
        (True, "ldap bind ok"), (False, "wrong password"), (False, "not in the required group"),
        (True, "ldap bind ok"), (True, "ldap bind ok"),
    ]


def test_template_search_finds_the_entry_for_the_group_check(slapd, tls, tmp_path, monkeypatch):
    # slapd binds only DNs, so AD's UPN bind cannot run here: the template is a
    # DN, but the upstream is told it is not, and so takes the UPN path: after
    # the bind, the entry is searched for under base_dn on the user's own
    # connection, and its DN (not the bind name) goes to the group check.
    monkeypatch.setattr(ldap_upstream, "template_is_dn", lambda template: False)
    cfg = (f'type = "ldap"\nservers = ["{slapd.ldaps_url}"]\nbind_dn_template = "uid={{user}},{PEOPLE}"\n{tls}'
           f'base_dn = "{BASE_DN}"\nuser_filter = "(uid={{user}})"\n'
           f'require_group = "{VPN_GROUP}"\ngroup_check = "member"\n')
    results = logins(make_upstream(tmp_path, cfg), ("alice", b"alice-pw"), ("bob", b"bob-pw"), ("alice", b"nope"))
    assert [(r.accepted, r.reason, r.canonical_name) for r in results] == [
        (True, "ldap bind ok", "alice"),
        (False, "not in the required group", None),
        (False, "wrong password", None),
    ]


def test_a_group_search_error_rejects_the_login_and_keeps_the_server(slapd, tls, tmp_path):
    # The group search answers an error (here invalidDNSyntax, as AD did for a
    # UPN used as a search base): that login is rejected; the server is not
    # taken out of service for everyone.
    cfg = search_cfg(f'"{slapd.ldaps_url}"', tls + 'require_group = "not a DN"\ngroup_check = "member"\n')
    up = make_upstream(tmp_path, cfg)
    [r] = logins(up, ("alice", b"alice-pw"))
    assert (r.accepted, r.reason) == (False, "group check failed (LDAP result 34)")
    assert up.failover.dead(now=time.monotonic()) == []


def test_a_search_cut_short_by_the_servers_size_limit_is_not_a_unique_match(tmp_path, monkeypatch):
    # A directory with sizelimit 1 answers a search that matches two entries
    # with one entry and result 4 (sizeLimitExceeded): there may be more.
    from tests.peers import slapd as slapd_module
    from tests.peers.fixtures import require_binary

    plain = slapd_module.render_conf
    monkeypatch.setattr(slapd_module, "render_conf", lambda d, pki: plain(d, pki).replace(
        "database mdb", "sizelimit 1\ndatabase mdb"))
    with slapd_module.Slapd(binary=require_binary("slapd")) as limited:
        body = search_cfg(f'"{limited.ldaps_url}"', f'ca_file = "{limited.pki.ca_file}"\n').replace(
            "(uid={user})", "(|(uid={user})(uid=bob))") + 'user_attribute = "uid"\n'
        [r] = logins(make_upstream(tmp_path, body), ("alice", b"alice-pw"))
    assert (r.accepted, r.reason) == (False, "user_filter matched several entries")


def test_a_closed_connection_is_never_reopened_without_starttls(slapd, tls, tmp_path):
    # ldap3's bind() reopens a closed connection itself, skipping the StartTLS
    # that connect() sends: a bind there would carry the password in clear.
    from radmfa.directory import ldapconn as lc

    up = make_upstream(tmp_path, search_cfg(f'"{slapd.url}"', tls + "start_tls = true\n"))
    conn = lc.connect(up.cfg.servers[0], up.cfg, up._context, 1.0)
    try:
        lc.close(conn)
        assert conn.closed
        with pytest.raises(lc.ServerFailed, match="connection closed"):
            lc.simple_bind(conn, f"uid=alice,{PEOPLE}", b"alice-pw")
        assert conn.closed  # not reopened
    finally:
        lc.close(conn)
        asyncio.run(up.close())

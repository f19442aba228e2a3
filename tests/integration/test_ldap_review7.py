"""Review 7, MEDIUM 4 / MEDIUM 5 / LOW 8 against the real slapd: template
binds that find the user's entry, group-search errors, one deadline per
server, dead servers skipped."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from collections.abc import Iterator

import pytest

from radmfa.core.model import PrimaryResult
from radmfa.errors import UpstreamUnavailable
from radmfa.upstream import ldap as ldap_upstream
from radmfa.upstream.ldap import LdapUpstream
from tests.integration.test_ldap_upstream import make_upstream, request, search_cfg
from tests.peers.slapd import BASE_DN, PEOPLE, VPN_GROUP, Slapd

pytestmark = pytest.mark.integration


def run(up: LdapUpstream, *logins: tuple[str, bytes]) -> list[PrimaryResult]:
    async def go() -> list[PrimaryResult]:
        try:
            return [await up.authenticate(request(user), pw) for user, pw in logins]
        finally:
            await up.close()

    return asyncio.run(go())


def tls(slapd: Slapd) -> str:
    return f'ca_file = "{slapd.pki.ca_file}"\n'


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A TCP port that accepts connections (kernel backlog) and never answers."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    yield s.getsockname()[1]
    s.close()


# -- MEDIUM 4: a template that is not a DN ("{user}@corp.example") ------------------------


def test_template_search_finds_the_entry_for_the_group_check(slapd, tmp_path, monkeypatch):
    # slapd binds only DNs, so AD's UPN bind cannot run here: the template is a
    # DN, but the upstream is told it is not, and so takes the UPN path: after
    # the bind, the entry is searched for under base_dn on the user's own
    # connection, and its DN (not the bind name) goes to the group check.
    monkeypatch.setattr(ldap_upstream, "template_is_dn", lambda template: False)
    cfg = (f'type = "ldap"\nservers = ["{slapd.ldaps_url}"]\nbind_dn_template = "uid={{user}},{PEOPLE}"\n{tls(slapd)}'
           f'base_dn = "{BASE_DN}"\nuser_filter = "(uid={{user}})"\n'
           f'require_group = "{VPN_GROUP}"\ngroup_check = "member"\n')
    results = run(make_upstream(tmp_path, cfg), ("alice", b"alice-pw"), ("bob", b"bob-pw"), ("alice", b"nope"))
    assert [(r.accepted, r.reason, r.canonical_name) for r in results] == [
        (True, "ldap bind ok", "alice"),
        (False, "not in the required group", None),
        (False, "wrong password", None),
    ]


def test_a_group_search_error_rejects_the_login_and_keeps_the_server(slapd, tmp_path):
    # The group search answers an error (here invalidDNSyntax, as AD did for a
    # UPN used as a search base): that login is rejected; the server is not
    # taken out of service for everyone.
    cfg = search_cfg(f'"{slapd.ldaps_url}"', tls(slapd) + 'require_group = "not a DN"\ngroup_check = "member"\n')
    up = make_upstream(tmp_path, cfg)
    [r] = run(up, ("alice", b"alice-pw"))
    assert (r.accepted, r.reason) == (False, "group check failed (LDAP result 34)")
    assert up._dead_until == {}


# -- MEDIUM 5: one deadline per server; dead servers skipped --------------------------------


def test_hung_servers_fail_within_timeout_per_server(slapd, tmp_path):
    port = slapd.ldaps_url.rsplit(":", 1)[1]
    timeout = 4.0  # per server; long, so that one and two waits per server stay apart on a busy machine
    up = make_upstream(tmp_path, search_cfg(f'"{slapd.ldaps_url}", "ldaps://localhost:{port}"', tls(slapd),
                                            timeout_s=timeout))

    async def go() -> float:
        try:
            # warm the pools of both servers
            assert (await up.authenticate(request("alice"), b"alice-pw")).accepted
            up._dead_until[up.cfg.servers[0].url] = time.monotonic() + 60
            assert (await up.authenticate(request("alice"), b"alice-pw")).accepted
            up._dead_until.clear()
            os.kill(slapd.proc.pid, signal.SIGSTOP)  # the DC hangs (overloaded, half-dead VM)
            t0 = time.monotonic()
            try:
                result = await up.authenticate(request("alice"), b"alice-pw")
            except UpstreamUnavailable:
                pass
            else:
                raise AssertionError(f"a stopped directory answered: {result} after {time.monotonic() - t0:.2f} s")
            finally:
                os.kill(slapd.proc.pid, signal.SIGCONT)
            return time.monotonic() - t0
        finally:
            await up.close()

    elapsed = asyncio.run(go())
    # docs/configuration.md: "within about timeout_s per server" (2 servers);
    # before: a pooled connection waited timeout_s, then a fresh one as long again, per server.
    assert elapsed < 2 * timeout + timeout, elapsed


def test_when_every_server_is_dead_one_is_probed(tmp_path, silent_port):
    servers = f'"ldap://127.0.0.1:{silent_port}", "ldap://localhost:{silent_port}"'
    up = make_upstream(tmp_path, search_cfg(servers, "dead_time_s = 60\n", timeout_s=1))

    async def go() -> list[tuple[str, ...]]:
        tried = []
        try:
            for _ in range(2):
                with pytest.raises(UpstreamUnavailable) as e:
                    await up.authenticate(request("alice"), b"alice-pw")
                tried.append(e.value.tried)
        finally:
            await up.close()
        return tried

    first, second = asyncio.run(go())
    assert len(first) == 2  # both waited out once …
    assert second == (first[0],)  # … then only the one whose dead time ends first


# -- LOW 8: the server's own size limit --------------------------------------------------------


def test_a_search_cut_short_by_the_servers_size_limit_is_not_a_unique_match(tmp_path, monkeypatch):
    # A directory with sizelimit 1 answers a search that matches two entries
    # with one entry and result 4 (sizeLimitExceeded): there may be more.
    from tests.peers import slapd as slapd_module
    from tests.peers.fixtures import require_binary

    plain = slapd_module.render_conf
    monkeypatch.setattr(slapd_module, "render_conf", lambda d, pki: plain(d, pki).replace(
        "database mdb", "sizelimit 1\ndatabase mdb"))
    with slapd_module.Slapd(binary=require_binary("slapd")) as limited:
        body = search_cfg(f'"{limited.ldaps_url}"', tls(limited)).replace(
            "(uid={user})", "(|(uid={user})(uid=bob))") + 'user_attribute = "uid"\n'
        [r] = run(make_upstream(tmp_path, body), ("alice", b"alice-pw"))
    assert (r.accepted, r.reason) == (False, "user_filter matched several entries")


def test_a_closed_connection_is_never_reopened_without_starttls(slapd, tmp_path):
    # ldap3's bind() reopens a closed connection itself, skipping the StartTLS
    # that connect() sends: a bind there would carry the password in clear.
    from radmfa.directory import ldapconn as lc

    up = make_upstream(tmp_path, search_cfg(f'"{slapd.url}"', tls(slapd) + "start_tls = true\n"))
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

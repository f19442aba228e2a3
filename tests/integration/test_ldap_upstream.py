"""LdapUpstream against a real slapd: binds, escaping, groups, TLS, failover."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from radmfa.config import load
from radmfa.core.model import AuthRequest
from radmfa.errors import UpstreamUnavailable
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


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A TCP port that accepts connections (kernel backlog) and never answers."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    yield s.getsockname()[1]
    s.close()


def test_server_down_fails_closed_within_the_timeout(tmp_path, silent_port):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    refused = closed.getsockname()[1]
    closed.close()
    servers = f'"ldap://127.0.0.1:{refused}", "ldap://127.0.0.1:{silent_port}"'
    up = make_upstream(tmp_path, search_cfg(servers, timeout_s=1))
    t0 = time.monotonic()
    with pytest.raises(UpstreamUnavailable) as e:
        auth(up, "alice", b"alice-pw")
    # Bounded by the timeout (about 1 s per server), where a silent server
    # would otherwise hold the login forever; the margin is for a busy machine.
    assert time.monotonic() - t0 < 30
    assert len(e.value.tried) == 2


def test_failover_and_dead_time(slapd, tls, tmp_path, silent_port):
    servers = f'"ldaps://127.0.0.1:{silent_port}", "{slapd.ldaps_url}"'
    # A long timeout, so that "waited it out" and "did not" stay apart on a busy machine.
    up = make_upstream(tmp_path, search_cfg(servers, tls + "dead_time_s = 60\n", timeout_s=5))

    async def run() -> list[tuple[bool, float]]:
        out = []
        try:
            for _ in range(2):
                t0 = time.monotonic()
                r = await up.authenticate(request("alice"), b"alice-pw")
                out.append((r.accepted, time.monotonic() - t0))
            assert up.healthy()
        finally:
            await up.close()
        return out

    (ok1, t1), (ok2, t2) = asyncio.run(run())
    assert ok1 and ok2
    assert t1 >= 4.5  # waited out the silent server once …
    assert t2 < 4.5  # … then tried it last while it is dead


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

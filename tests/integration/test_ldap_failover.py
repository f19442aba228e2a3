"""Failover against real directories (upstream/failover.py, FreeRADIUS
fail-over pool semantics): the LDAP upstream and the LDAP front end's
directory links try live servers in order, remember a dead one for
dead_time_s, and try a dead one only as a last resort."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time

import pytest

from radmfa.config import load
from radmfa.errors import UpstreamUnavailable
from radmfa.front.ldap.directory import Directory
from radmfa.front.ldap.lookup import Resolver
from radmfa.upstream.failover import Failover
from tests.integration.test_ldap_upstream import auth, make_upstream, request, search_cfg
from tests.peers.slapd import PEOPLE, SERVICE_DN, SERVICE_PW

pytestmark = pytest.mark.integration


@pytest.fixture
def tls(slapd) -> str:
    return f'ca_file = "{slapd.pki.ca_file}"\n'


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


def test_a_dead_server_is_the_last_resort_when_the_live_ones_fail(slapd, tls, tmp_path, silent_port):
    # The silent server is live, the real one was marked dead a moment ago
    # (it has come back since): the login waits out the silent one, then
    # tries the dead one rather than failing.
    servers = f'"ldaps://127.0.0.1:{silent_port}", "{slapd.ldaps_url}"'
    up = make_upstream(tmp_path, search_cfg(servers, tls + "dead_time_s = 60\n", timeout_s=1))
    now = time.monotonic()
    up.failover.failed(up.cfg.servers[1], since=now, now=now)
    assert auth(up, "alice", b"alice-pw") == (True, "ldap bind ok")
    assert up.failover.dead(now=time.monotonic()) == [up.cfg.servers[0]]  # and the roles swapped


def test_hung_servers_fail_within_timeout_per_server(slapd, tls, tmp_path):
    port = slapd.ldaps_url.rsplit(":", 1)[1]
    timeout = 4.0  # per server; long, so that one and two waits per server stay apart on a busy machine
    up = make_upstream(tmp_path, search_cfg(f'"{slapd.ldaps_url}", "ldaps://localhost:{port}"', tls,
                                            timeout_s=timeout))

    async def go() -> float:
        try:
            # warm the pools of both servers
            assert (await up.authenticate(request("alice"), b"alice-pw")).accepted
            first = up.cfg.servers[0]
            now = time.monotonic()
            assert up.failover.failed(first, since=now, now=now)
            assert (await up.authenticate(request("alice"), b"alice-pw")).accepted  # the other server's pool
            up.failover.answered(first, now=time.monotonic())
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
    # One wait per server, not two (a stale pooled connection, then a fresh one, each waiting timeout_s).
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


def test_the_ldap_front_ends_directory_links_and_lookups_remember_a_dead_server(slapd, tls, tmp_path, silent_port):
    path = tmp_path / "radmfa.toml"
    servers = f'"ldaps://127.0.0.1:{silent_port}", "{slapd.ldaps_url}"'
    path.write_text("[upstream]\n" + search_cfg(servers, tls + "dead_time_s = 60\n", timeout_s=5))
    upstream = load(path).upstream
    assert upstream.ldap is not None
    failover = Failover(upstream.ldap.servers, upstream.dead_time_s)
    directory = Directory(upstream.ldap, timeout_s=upstream.timeout_s, failover=failover)
    resolver = Resolver(upstream.ldap, timeout_s=upstream.timeout_s, failover=failover)

    async def go() -> list[float]:
        took = []
        try:
            for _ in range(2):
                t0 = time.monotonic()
                code, link = await directory.bind(SERVICE_DN, SERVICE_PW.encode())
                took.append(time.monotonic() - t0)
                assert code == 0 and link is not None
                link.close()  # not kept: the next bind opens a new link
            t0 = time.monotonic()
            who = await resolver.resolve("alice")  # a lookup on the service account's connection
            took.append(time.monotonic() - t0)
            assert who is not None and who.dn.lower() == f"uid=alice,{PEOPLE}".lower()
        finally:
            directory.close()
            await resolver.close()
        return took

    first, second, lookup = asyncio.run(go())
    # A long timeout, so that "waited it out" and "did not" stay apart on a busy machine.
    assert first >= 4.5  # waited out the silent server once …
    assert second < 4.5 and lookup < 4.5  # … then neither the links nor the lookups wait for it
    assert failover.dead(now=time.monotonic()) == [upstream.ldap.servers[0]]

"""Several nodes on one PostgreSQL store, and the systemd notify protocol."""

from __future__ import annotations

import os
import secrets
import socket

import pytest

from tests.integration.harness import NAS_SECRET, REPLY_WAIT_S
from tests.integration.test_foundation import code_for, upstream_cfg

pytestmark = pytest.mark.integration


def test_challenge_from_one_node_answered_at_another(
    radmfa_factory, freeradius_upstream, radclient, fresh_postgres_url, tmp_path
):
    shared = {"store_url": fresh_postgres_url, "key_file": str(tmp_path / "seeds.key")}  # one key for the cluster
    a = radmfa_factory(upstream=upstream_cfg(freeradius_upstream.address), **shared)
    b = radmfa_factory(upstream=upstream_cfg(freeradius_upstream.address), **shared)
    seed = secrets.token_bytes(20)
    a.add_users(("alice", None, seed))
    with a, b:
        first = radclient(a.address, NAS_SECRET, [{"User-Name": "alice", "User-Password": "alice-pw"}])[0]
        assert first.code == "Access-Challenge"
        code = code_for(seed)
        answer = {"User-Name": "alice", "User-Password": code, "State": first.get("State")}
        second = radclient(b.address, NAS_SECRET, [answer])[0]
        assert second.code == "Access-Accept" and second.get("Filter-Id") == "vpn-users"
        # single use across nodes: node A cannot accept the same State again
        assert radclient(a.address, NAS_SECRET, [answer])[0].code == "Access-Reject"
        # and the TOTP step is spent cluster-wide
        inline = {"User-Name": "alice", "User-Password": f"alice-pw,{code}"}
        assert radclient(a.address, NAS_SECRET, [inline])[0].code == "Access-Reject"


def test_sd_notify_ready_and_stopping(radmfa_factory, tmp_path):
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(REPLY_WAIT_S)
    server = radmfa_factory(env={"NOTIFY_SOCKET": path})
    try:
        server.start()
        assert sock.recv(1024).startswith(b"READY=1")
        assert server.stop() == 0
        assert sock.recv(1024).startswith(b"STOPPING=1")
    finally:
        sock.close()


def test_workers_share_one_nas_port_and_sigterm_loses_no_audit_row(radmfa_factory, freeradius_upstream):
    import asyncio
    import subprocess

    from radmfa.config import load
    from radmfa.radius import wire
    from radmfa.store import open_store
    from tests.integration.harness import access_request

    server = radmfa_factory(
        upstream=upstream_cfg(freeradius_upstream.address),
        mfa='unknown_users = "password-only"',
        radius_extra="reject_delay_s = 0\nworkers = 2",
    )
    with server:
        found = subprocess.run(["pgrep", "-P", str(server.proc.pid)], capture_output=True, text=True, check=False)
        children = [int(p) for p in found.stdout.split()]
        assert len(children) == 2
        server.wait_for_event("radmfa ready", count=2)  # both workers listen, not just the one that answered
        replies = 0
        nas = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # one source port, like a real NAS
        nas.settimeout(REPLY_WAIT_S)
        for i in range(160):
            data, _ = access_request(i % 256, [(wire.USER_NAME, b"bob")], password=b"bob-pw")
            nas.sendto(data, ("127.0.0.1", server.port))
            replies += wire.parse(nas.recv(4096)).code == wire.ACCESS_ACCEPT
        nas.close()
        assert replies == 160
    assert server.proc is None  # stopped with SIGTERM by the context manager

    async def count() -> int:
        cfg = load(server.config_path)
        store = await open_store(cfg.store.url, key_file=cfg.store.key_file, base_dir=cfg.base_dir)
        try:
            return len(await store.query_audit(username="bob"))
        finally:
            await store.close()

    assert asyncio.run(count()) == 160
    workers = {e.get("request_id", "").split("-")[0] for e in server.events() if e.get("event") == "auth"}
    assert len(workers) == 2  # both processes answered one NAS source port (steered by Identifier)


def test_a_dying_worker_stops_the_service_for_systemd_to_restart(radmfa_factory):
    import signal
    import subprocess

    server = radmfa_factory(radius_extra="reject_delay_s = 0\nworkers = 2")
    server.start()
    found = subprocess.run(["pgrep", "-P", str(server.proc.pid)], capture_output=True, text=True, check=False)
    children = [int(p) for p in found.stdout.split()]
    assert len(children) == 2
    os.kill(children[0], signal.SIGKILL)
    assert server.proc.wait(REPLY_WAIT_S) == 1  # non-zero: Restart=on-failure brings it back
    assert "stopping the others" in server.log_text()
    assert subprocess.run(["pgrep", "-P", str(server.proc.pid)], capture_output=True, check=False).returncode == 1
    server.stop()


def test_a_setting_changed_on_one_node_reaches_another_without_restart(
    radmfa_factory, freeradius_upstream, radclient, fresh_postgres_url, tmp_path
):
    import subprocess
    import sys

    shared = {"store_url": fresh_postgres_url, "key_file": str(tmp_path / "seeds.key")}
    a = radmfa_factory(upstream=upstream_cfg(freeradius_upstream.address), **shared)
    b = radmfa_factory(upstream=upstream_cfg(freeradius_upstream.address), **shared)
    a.add_users(("alice", None, None))  # no factor yet: [mfa] new_user decides
    login = [{"User-Name": "alice", "User-Password": "alice-pw"}]
    with a, b:
        assert radclient(b.address, NAS_SECRET, login)[0].code == "Access-Reject"  # the default: enroll first
        done = subprocess.run(  # noqa: S603 - on node A's config
            [sys.executable, "-m", "radmfa", "settings", "set", "mfa.new_user", "allow", "--config",
             str(a.config_path)], capture_output=True, text=True, check=False,
        )
        assert done.returncode == 0, done.stderr
        b.wait_for_event("settings changed", mfa_new_user="allow")  # node B polled the store
        reply = radclient(b.address, NAS_SECRET, login)[0]
        assert reply.code == "Access-Accept", b.log_text()
        assert b.proc is not None and b.proc.poll() is None  # the same process: no restart

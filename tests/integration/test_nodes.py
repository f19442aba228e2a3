"""Several nodes on one PostgreSQL store, and the systemd notify protocol."""

from __future__ import annotations

import secrets
import socket

import pytest

from tests.integration.harness import NAS_SECRET
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
    sock.settimeout(10)
    server = radmfa_factory(env={"NOTIFY_SOCKET": path})
    try:
        server.start()
        assert sock.recv(1024).startswith(b"READY=1")
        assert server.stop() == 0
        assert sock.recv(1024).startswith(b"STOPPING=1")
    finally:
        sock.close()

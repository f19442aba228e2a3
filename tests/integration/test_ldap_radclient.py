"""End-to-end: radclient (NAS) → radmfa (real process, LDAP upstream) → slapd, then TOTP."""

from __future__ import annotations

import base64
import secrets
import socket
import time

import pyotp
import pytest

from tests.integration.harness import NAS_SECRET
from tests.peers.slapd import BASE_DN, SERVICE_DN, SERVICE_PW, VPN_GROUP

pytestmark = pytest.mark.integration


def ldap_body(slapd) -> str:
    return (
        f'type = "ldap"\nservers = ["{slapd.url}"]\nstart_tls = true\nca_file = "{slapd.pki.ca_file}"\n'
        f'bind_dn = "{SERVICE_DN}"\nbind_password = "{SERVICE_PW}"\nbase_dn = "{BASE_DN}"\n'
        f'require_group = "{VPN_GROUP}"\ngroup_check = "member"\ntimeout_s = 10\n'
    )


def test_ldap_password_then_totp_challenge_accepts(radmfa_factory, slapd, radclient):
    seed = secrets.token_bytes(20)
    server = radmfa_factory(upstream=ldap_body(slapd))
    server.add_users(("alice", None, seed), ("bob", None, secrets.token_bytes(20)))
    with server:
        first = radclient(server.address, NAS_SECRET, [{"User-Name": "alice", "User-Password": "alice-pw"}])[0]
        assert first.code == "Access-Challenge"
        code = pyotp.TOTP(base64.b32encode(seed).decode()).at(time.time())
        second = radclient(
            server.address, NAS_SECRET,
            [{"User-Name": "alice", "User-Password": code, "State": first.get("State")}],
        )[0]
        assert second.code == "Access-Accept"
        wrong = radclient(server.address, NAS_SECRET, [{"User-Name": "alice", "User-Password": "nope"}])[0]
        assert wrong.code == "Access-Reject"
        outside = radclient(server.address, NAS_SECRET, [{"User-Name": "bob", "User-Password": "bob-pw"}])[0]
        assert outside.code == "Access-Reject"
    reasons = [e.get("reason") for e in server.events() if e.get("event") == "auth"]
    assert reasons == ["challenge sent", "password and code", "wrong password", "not in the required group"]
    log = server.log_text()
    for needle in ("alice-pw", "bob-pw", SERVICE_PW, code, base64.b32encode(seed).decode()):
        assert needle not in log


def test_upstream_chosen_per_client(radmfa_factory, slapd, radclient):
    # The default upstream is local (no password for alice there); the NAS
    # "localhost" is routed to the directory.
    seed = secrets.token_bytes(20)
    body = 'type = "local"\n\n[upstreams.dir]\n' + ldap_body(slapd) + '\n[clients.localhost]\nupstream = "dir"\n'
    server = radmfa_factory(upstream=body)
    server.add_users(("alice", None, seed))
    with server:
        code = pyotp.TOTP(base64.b32encode(seed).decode()).at(time.time())
        r = radclient(server.address, NAS_SECRET, [{"User-Name": "alice", "User-Password": f"alice-pw,{code}"}])[0]
        assert r.code == "Access-Accept"


def test_directory_down_rejects_in_time(radmfa_factory, radclient):
    silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # accepts, never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        body = (
            f'type = "ldap"\nservers = ["ldap://127.0.0.1:{silent.getsockname()[1]}"]\n'
            f'bind_dn = "{SERVICE_DN}"\nbind_password = "{SERVICE_PW}"\nbase_dn = "{BASE_DN}"\ntimeout_s = 0.5\n'
        )
        server = radmfa_factory(upstream=body)
        server.add_users(("alice", None, secrets.token_bytes(20)))
        with server:
            t0 = time.monotonic()
            r = radclient(server.address, NAS_SECRET, [{"User-Name": "alice", "User-Password": "alice-pw"}])
            assert r[0].code == "Access-Reject", server.log_text()
            # Answered after about the 0.5 s timeout, not held until the NAS gives up.
            assert time.monotonic() - t0 < 20
    finally:
        silent.close()
    reasons = [e.get("reason") for e in server.events() if e.get("event") == "auth"]
    assert reasons == ["upstream unavailable"]

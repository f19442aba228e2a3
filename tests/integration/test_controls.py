"""End-to-end, the admin's controls: radclient (NAS) → radmfa (real process) → FreeRADIUS.

Bypasses, app passwords, unblocks and forgets are made with the real CLI
(`python -m radmfa …`) against the server's own store, as a helpdesk would.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import threading
import time

import pytest

from tests.integration.harness import NAS_SECRET, Radmfa
from tests.integration.test_foundation import code_for, upstream_cfg

pytestmark = pytest.mark.integration

ALICE = {"User-Name": "alice", "User-Password": "alice-pw"}


def cli(server: Radmfa, *args: str) -> str:
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "radmfa", *args, "--config", str(server.config_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def upstream_requests(fr, user: str, *, at_least: int = 0) -> int:
    """Access-Requests for ``user`` the FreeRADIUS upstream has logged (good or bad password).

    ``at_least``: wait (generously) until that many are logged, for a request
    just answered whose log line may still be on its way to the file.
    """
    deadline = time.monotonic() + 30
    while True:
        count = sum(1 for line in fr.log_tail(100_000).splitlines() if "Login" in line and f"[{user}" in line)
        if count >= at_least or time.monotonic() > deadline:
            return count
        time.sleep(0.05)


def reasons(server: Radmfa) -> list[str]:
    return [str(e.get("reason")) for e in server.events() if e.get("event") == "auth" and e.get("user") == "alice"]


def make(radmfa_factory, fr, mfa: str = "", **kw: object) -> tuple[Radmfa, bytes]:
    server = radmfa_factory(upstream=upstream_cfg(fr.address), mfa=mfa, **kw)
    seed = secrets.token_bytes(20)
    server.add_users(("alice", None, seed))
    return server, seed


def test_bypass_used_once_then_mfa_again(radmfa_factory, freeradius_upstream, radclient):
    server, _ = make(radmfa_factory, freeradius_upstream)
    with server:
        cli(server, "bypass", "create", "alice", "--seconds", "120", "--reason", "phone died")
        wrong = radclient(server.address, NAS_SECRET, [{"User-Name": "alice", "User-Password": "nope"}])[0]
        assert wrong.code == "Access-Reject"  # the password is still checked, and consumes nothing
        used = radclient(server.address, NAS_SECRET, [dict(ALICE, **{"Calling-Station-Id": "192.0.2.50"})])[0]
        assert used.code == "Access-Accept" and used.get("Filter-Id") == "vpn-users"
        again = radclient(server.address, NAS_SECRET, [ALICE])[0]
        assert again.code == "Access-Challenge"
        listed = cli(server, "bypass", "list", "alice", "--format", "csv")
        assert ",used," in listed and "phone died" in listed and "localhost" in listed and "192.0.2.50" in listed
    assert "bypass" in reasons(server)


@pytest.mark.parametrize("store", ["sqlite-2-workers", "postgres-2-nodes"])
def test_100_concurrent_logins_race_for_one_bypass(
    radmfa_factory, freeradius_upstream, radclient, store, request, tmp_path
):
    if store == "sqlite-2-workers":
        nodes = [
            radmfa_factory(
                upstream=upstream_cfg(freeradius_upstream.address), radius_extra="reject_delay_s = 0\nworkers = 2"
            )
        ]
    else:
        shared = {"store_url": request.getfixturevalue("fresh_postgres_url"), "key_file": str(tmp_path / "k")}
        nodes = [radmfa_factory(upstream=upstream_cfg(freeradius_upstream.address), **shared) for _ in range(2)]
    nodes[0].add_users(("alice", None, secrets.token_bytes(20)))
    for node in nodes:
        node.start()
    cli(nodes[0], "bypass", "create", "alice", "--seconds", "120", "--reason", "race")
    per_node = 100 // len(nodes)
    codes: list[str] = []
    lock = threading.Lock()

    def blast(node: Radmfa) -> None:
        replies = radclient(node.address, NAS_SECRET, [ALICE] * per_node, parallel=per_node)
        with lock:
            codes.extend(r.code for r in replies)

    threads = [threading.Thread(target=blast, args=(node,)) for node in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(codes) == 100
    assert codes.count("Access-Accept") == 1
    assert codes.count("Access-Challenge") == 99


def test_cache_hit_in_window_miss_after_never_after_wrong_password(radmfa_factory, freeradius_upstream, radclient):
    mfa = '[[mfa.cache]]\ntype = "user+client"\nseconds = 15\nclients = ["localhost"]\n'
    server, seed = make(radmfa_factory, freeradius_upstream, mfa)
    with server:
        first = radclient(server.address, NAS_SECRET, [ALICE])[0]
        assert first.code == "Access-Challenge"
        ok = radclient(
            server.address, NAS_SECRET, [{**ALICE, "User-Password": code_for(seed), "State": first.get("State")}]
        )[0]
        assert ok.code == "Access-Accept"
        started = time.monotonic()
        hit = radclient(server.address, NAS_SECRET, [ALICE])[0]
        assert hit.code == "Access-Accept" and hit.get("Filter-Id") == "vpn-users"
        before = upstream_requests(freeradius_upstream, "alice")
        wrong = radclient(server.address, NAS_SECRET, [{"User-Name": "alice", "User-Password": "nope"}])[0]
        assert wrong.code == "Access-Reject"  # never a cache hit on a wrong password
        assert upstream_requests(freeradius_upstream, "alice", at_least=before + 1) == before + 1  # it went upstream
        # The window is generous for a busy machine; then it must have passed.
        assert time.monotonic() - started < 15, "the window passed before the checks inside it"
        time.sleep(max(0.0, 15.2 - (time.monotonic() - started)))
        miss = radclient(server.address, NAS_SECRET, [ALICE])[0]
        assert miss.code == "Access-Challenge"
    assert reasons(server).count("cache") == 1


def test_trusted_network_skips_factor_but_not_password(radmfa_factory, freeradius_upstream, radclient):
    server, _ = make(radmfa_factory, freeradius_upstream, 'trusted_networks = ["192.0.2.0/24", "2001:db8::/32"]')
    inside = {"Calling-Station-Id": "192.0.2.77"}
    with server:
        ok = radclient(server.address, NAS_SECRET, [{**ALICE, **inside}])[0]
        assert ok.code == "Access-Accept" and ok.get("Filter-Id") == "vpn-users"
        bad = radclient(server.address, NAS_SECRET, [{"User-Name": "alice", "User-Password": "nope", **inside}])[0]
        assert bad.code == "Access-Reject"
        outside = radclient(server.address, NAS_SECRET, [{**ALICE, "Calling-Station-Id": "198.51.100.1"}])[0]
        assert outside.code == "Access-Challenge"
    assert "trusted-network" in reasons(server)


def test_app_password_without_upstream_request_and_denied_client(radmfa_factory, freeradius_upstream, radclient):
    server, _ = make(radmfa_factory, freeradius_upstream, "app_passwords = true")
    password = cli(server, "apppass", "create", "alice", "--name", "Mail").splitlines()[-1]
    with server:
        before = upstream_requests(freeradius_upstream, "alice")
        control = radclient(server.address, NAS_SECRET, [ALICE])[0]  # an ordinary login is seen upstream
        assert control.code == "Access-Challenge"
        assert upstream_requests(freeradius_upstream, "alice", at_least=before + 1) == before + 1
        ok = radclient(server.address, NAS_SECRET, [{"User-Name": "alice", "User-Password": password}])[0]
        assert ok.code == "Access-Accept"
        assert upstream_requests(freeradius_upstream, "alice") == before + 1  # no request arrived upstream
        admin = {"User-Name": "alice", "User-Password": password, "Service-Type": "Administrative-User"}
        assert radclient(server.address, NAS_SECRET, [admin])[0].code == "Access-Reject"
        assert "never" not in cli(server, "apppass", "list", "alice")  # last used is recorded
    assert "app-password" in reasons(server)
    assert password not in server.log_text()

    denied, _ = make(
        radmfa_factory, freeradius_upstream, 'app_passwords = true\n[clients.localhost]\napp_passwords = "deny"'
    )
    password = cli(denied, "apppass", "create", "alice", "--name", "Mail").splitlines()[-1]
    with denied:
        r = radclient(denied.address, NAS_SECRET, [{"User-Name": "alice", "User-Password": password}])[0]
        assert r.code == "Access-Reject"


def test_remembered_device_skips_and_forget_restores_mfa(radmfa_factory, freeradius_upstream, radclient):
    server, seed = make(radmfa_factory, freeradius_upstream, "[clients.localhost]\nremember_days = 14")
    laptop = {**ALICE, "Calling-Station-Id": "02-00-5e-00-53-01"}
    with server:
        first = radclient(server.address, NAS_SECRET, [laptop])[0]
        assert first.code == "Access-Challenge"
        answer = {**laptop, "User-Password": code_for(seed), "State": first.get("State")}
        assert radclient(server.address, NAS_SECRET, [answer])[0].code == "Access-Accept"
        again = radclient(server.address, NAS_SECRET, [laptop])[0]
        assert again.code == "Access-Accept" and again.get("Filter-Id") == "vpn-users"
        other = radclient(server.address, NAS_SECRET, [{**laptop, "Calling-Station-Id": "02-00-5e-00-53-02"}])[0]
        assert other.code == "Access-Challenge"
        assert "02-00-5e-00-53-01" in cli(server, "device", "list", "alice")
        cli(server, "device", "forget", "alice", "--all")
        assert radclient(server.address, NAS_SECRET, [laptop])[0].code == "Access-Challenge"
    assert "remembered-device" in reasons(server)


def test_lockout_after_n_failures_and_unblock(radmfa_factory, freeradius_upstream, radclient):
    server, seed = make(radmfa_factory, freeradius_upstream, "lockout_failures = 3\nlockout_minutes = 15")
    with server:
        for _ in range(3):
            wrong = f"{(int(code_for(seed)) + 500_000) % 1_000_000:06d}"
            r = radclient(server.address, NAS_SECRET, [{**ALICE, "User-Password": f"alice-pw,{wrong}"}])[0]
            assert r.code == "Access-Reject"
        before = upstream_requests(freeradius_upstream, "alice")
        right = {**ALICE, "User-Password": f"alice-pw,{code_for(seed)}"}
        assert radclient(server.address, NAS_SECRET, [right])[0].code == "Access-Reject"
        assert upstream_requests(freeradius_upstream, "alice") == before  # blocked before the upstream
        assert "lockout" in cli(server, "user", "show", "alice")
        cli(server, "user", "unblock", "alice")
        assert radclient(server.address, NAS_SECRET, [right])[0].code == "Access-Accept"
    assert reasons(server).count("lockout") == 2  # the third failure, then the blocked login

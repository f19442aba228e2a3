"""End-to-end: radclient (NAS) → radmfa (real process) → FreeRADIUS (upstream)."""

from __future__ import annotations

import base64
import contextlib
import secrets
import socket
import time

import pyotp
import pytest

from radmfa.radius import crypto, wire
from tests.integration.harness import NAS_SECRET, REPLY_WAIT_S, SILENCE_S, access_request, udp_exchange
from tests.peers.fixtures import UPSTREAM_SECRET
from tests.peers.ports import free_udp_port

pytestmark = pytest.mark.integration


def code_for(seed: bytes, offset_steps: int = 0) -> str:
    return pyotp.TOTP(base64.b32encode(seed).decode()).at(time.time() + 30 * offset_steps)


def upstream_cfg(*servers: tuple[str, int], timeout_s: float = 10.0, retries: int = 2) -> str:
    """[upstream] for FreeRADIUS peers. The default timeout is generous (a busy
    machine); tests of dead servers pass a short one."""
    listed = ", ".join(f'"{h}:{p}"' for h, p in servers)
    return (
        f'type = "radius"\nservers = [{listed}]\nsecret = "{UPSTREAM_SECRET}"\n'
        f"timeout_s = {timeout_s}\nretries = {retries}\n"
    )


@pytest.fixture
def proxy(radmfa_factory, freeradius_upstream):
    server = radmfa_factory(upstream=upstream_cfg(freeradius_upstream.address))
    return server


def logins_ok(fr, user: str) -> int:
    return fr.log_tail(10_000).count(f"Login OK: [{user}")


def test_challenge_then_code_accepts_with_upstream_attributes(proxy, radclient):
    seed = secrets.token_bytes(20)
    proxy.add_users(("alice", None, seed))
    with proxy:
        first = radclient(proxy.address, NAS_SECRET, [{"User-Name": "alice", "User-Password": "alice-pw"}])[0]
        assert first.code == "Access-Challenge"
        state = first.get("State")
        assert state and len(state) >= 2 + 32  # 0x + ≥16 octets
        assert first.get("Reply-Message")
        assert first.get("Filter-Id") is None  # authorization only after the code
        second = radclient(
            proxy.address,
            NAS_SECRET,
            [{"User-Name": "alice", "User-Password": code_for(seed), "State": state}],
        )[0]
        assert second.code == "Access-Accept"
        assert second.get("Filter-Id") == "vpn-users"
        assert second.get("Class") == "0x" + b"grp-alice".hex()
        assert second.get("Session-Timeout") == "3600"
        assert second.get("State") is None
        # The State is single use.
        again = radclient(
            proxy.address, NAS_SECRET, [{"User-Name": "alice", "User-Password": code_for(seed), "State": state}]
        )[0]
        assert again.code == "Access-Reject"


def test_wrong_code_rechallenges_then_rejects(radmfa_factory, freeradius_upstream, radclient):
    server = radmfa_factory(upstream=upstream_cfg(freeradius_upstream.address), mfa="max_attempts = 2")
    seed = secrets.token_bytes(20)
    server.add_users(("alice", None, seed))
    wrong = f"{(int(code_for(seed)) + 1) % 1_000_000:06d}"
    with server:
        first = radclient(server.address, NAS_SECRET, [{"User-Name": "alice", "User-Password": "alice-pw"}])[0]
        assert first.code == "Access-Challenge"
        second = radclient(
            server.address, NAS_SECRET, [{"User-Name": "alice", "User-Password": wrong, "State": first.get("State")}]
        )[0]
        assert second.code == "Access-Challenge"
        assert second.get("State") != first.get("State")
        third = radclient(
            server.address, NAS_SECRET, [{"User-Name": "alice", "User-Password": wrong, "State": second.get("State")}]
        )[0]
        assert third.code == "Access-Reject"
        assert third.get("Filter-Id") is None


def test_inline_code_and_replay_guard(proxy, radclient):
    seed = secrets.token_bytes(20)
    proxy.add_users(("alice", None, seed))
    with proxy:
        code = code_for(seed)
        ok = radclient(proxy.address, NAS_SECRET, [{"User-Name": "alice", "User-Password": f"alice-pw,{code}"}])[0]
        assert ok.code == "Access-Accept" and ok.get("Filter-Id") == "vpn-users"
        replay = radclient(proxy.address, NAS_SECRET, [{"User-Name": "alice", "User-Password": f"alice-pw,{code}"}])[0]
        assert replay.code == "Access-Reject"


def test_upstream_reject_keeps_reply_message_and_unknown_user_policy(radmfa_factory, freeradius_upstream, radclient):
    server = radmfa_factory(upstream=upstream_cfg(freeradius_upstream.address), mfa='unknown_users = "password-only"')
    server.add_users(("alice", None, secrets.token_bytes(20)), ("carol", None, None))
    with server:
        bad = radclient(server.address, NAS_SECRET, [{"User-Name": "alice", "User-Password": "nope"}])[0]
        assert bad.code == "Access-Reject"
        # bob is not in radmfa: password-only, upstream's attributes pass through
        bob = radclient(server.address, NAS_SECRET, [{"User-Name": "bob", "User-Password": "bob-pw"}])[0]
        assert bob.code == "Access-Accept"
        assert bob.values("Reply-Message") == ["Welcome, bob", "Second line"]
        assert bob.values("Cisco-AVPair") == ["shell:priv-lvl=15", "shell:roles=admin"]
        # carol is known but has no factor (and no upstream account here)
        carol = radclient(server.address, NAS_SECRET, [{"User-Name": "carol", "User-Password": "x"}])[0]
        assert carol.code == "Access-Reject"


def test_known_user_without_factor_is_told(radmfa_factory, freeradius_upstream, radclient):
    server = radmfa_factory(upstream=upstream_cfg(freeradius_upstream.address))
    server.add_users(("alice", None, None))
    with server:
        r = radclient(server.address, NAS_SECRET, [{"User-Name": "alice", "User-Password": "alice-pw"}])[0]
        assert r.code == "Access-Reject"
        assert "No second factor" in (r.get("Reply-Message") or "")
        unknown = radclient(server.address, NAS_SECRET, [{"User-Name": "bob", "User-Password": "bob-pw"}])[0]
        assert unknown.code == "Access-Reject"  # unknown_users = "reject" by default


def test_status_server_answered_locally(proxy, radclient, freeradius_upstream):
    before = logins_ok(freeradius_upstream, "")
    with proxy:
        r = radclient(proxy.address, NAS_SECRET, [{"Message-Authenticator": "0x00"}], code="status")[0]
        assert r.code == "Access-Accept"
        assert "radmfa up" in (r.get("Reply-Message") or "")
    assert logins_ok(freeradius_upstream, "") == before  # never proxied (RFC 5997 §4.4)


def test_unknown_client_gets_no_reply(proxy):
    with proxy:
        data, _ = access_request(1, [(wire.USER_NAME, b"alice")], password=b"alice-pw")
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.2", 0))  # loopback, but not a configured client
        try:
            assert udp_exchange(("127.0.0.1", proxy.port), data, SILENCE_S, sock=s) is None
        finally:
            s.close()


def test_missing_message_authenticator_is_dropped(proxy, radclient):
    proxy.add_users(("alice", None, secrets.token_bytes(20)))
    with proxy:
        r = radclient(
            proxy.address,
            NAS_SECRET,
            [{"User-Name": "alice", "User-Password": "alice-pw"}],
            message_authenticator=False,
            timeout=SILENCE_S,
        )[0]
        assert r.code is None
        # a wrong MA is dropped too
        data, _ = access_request(2, [(wire.USER_NAME, b"alice")], password=b"alice-pw")
        bad = bytearray(data)
        bad[25] ^= 0xFF  # inside the MA value (MA is first)
        assert udp_exchange(("127.0.0.1", proxy.port), bytes(bad), SILENCE_S) is None
        # and the server still serves
        assert proxy.status_server() is not None


def test_proxy_state_echoed_in_order(proxy, radclient):
    seed = secrets.token_bytes(20)
    proxy.add_users(("alice", None, seed))
    states = [b"\x01first", b"second" * 40, b"\x00\x00three"]
    with proxy:
        attrs = [(wire.USER_NAME, b"alice")] + [(wire.PROXY_STATE, s) for s in states]
        data, ra = access_request(3, attrs, password=b"alice-pw")
        reply = udp_exchange(("127.0.0.1", proxy.port), data, REPLY_WAIT_S)
        assert reply is not None, proxy.log_text()
        frame = wire.parse(reply)
        assert frame.code == wire.ACCESS_CHALLENGE
        assert reply[20] == wire.MESSAGE_AUTHENTICATOR and frame.ma_offset == 22  # MA first
        assert crypto.verify_response(reply, ra, NAS_SECRET.encode(), 22)
        assert frame.all(wire.PROXY_STATE) == states
        # radclient also discards replies whose Proxy-State differs from what it sent
        r = radclient(
            proxy.address,
            NAS_SECRET,
            [[("User-Name", "alice"), ("User-Password", "alice-pw"), ("Proxy-State", "0xabcd")]],
        )[0]
        assert r.code == "Access-Challenge"


def test_retransmission_answered_from_cache(proxy, freeradius_upstream):
    proxy.add_users(("alice", None, secrets.token_bytes(20)))
    with proxy:
        before = logins_ok(freeradius_upstream, "alice")
        data, _ = access_request(9, [(wire.USER_NAME, b"alice")], password=b"alice-pw")
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        try:
            s.sendto(data, ("127.0.0.1", proxy.port))
            s.sendto(data, ("127.0.0.1", proxy.port))  # while pending: dropped
            s.settimeout(REPLY_WAIT_S)
            first = s.recv(4096)
            s.settimeout(SILENCE_S)
            with pytest.raises(TimeoutError):
                s.recv(4096)  # only one reply for the two copies
            second = udp_exchange(("127.0.0.1", proxy.port), data, REPLY_WAIT_S, sock=s)  # after the answer
        finally:
            s.close()
        assert second == first
        # FreeRADIUS logs the login around the time it answers: wait for the line, then count.
        deadline = time.monotonic() + REPLY_WAIT_S
        while logins_ok(freeradius_upstream, "alice") == before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert logins_ok(freeradius_upstream, "alice") == before + 1


def test_failover_to_second_upstream(radmfa_factory, freeradius_upstream, radclient):
    dead = ("127.0.0.1", free_udp_port())
    server = radmfa_factory(
        upstream=upstream_cfg(dead, freeradius_upstream.address, timeout_s=2, retries=2),
        mfa='unknown_users = "password-only"',
    )
    with server:
        r = radclient(server.address, NAS_SECRET, [{"User-Name": "bob", "User-Password": "bob-pw"}])[0]
        assert r.code == "Access-Accept", server.log_text()


def test_all_upstreams_dead_rejects_within_budget(radmfa_factory, radclient):
    # Two upstreams that never answer: sockets held here, so the attempts can be counted.
    dead = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
    try:
        for s in dead:
            s.bind(("127.0.0.1", 0))
            s.setblocking(False)
        server = radmfa_factory(
            upstream=upstream_cfg(*(s.getsockname() for s in dead), timeout_s=0.4, retries=2),
            mfa='unknown_users = "password-only"',
        )
        with server:
            r = radclient(server.address, NAS_SECRET, [{"User-Name": "bob", "User-Password": "bob-pw"}])[0]
            assert r.code == "Access-Reject", server.log_text()
        # The budget is max(retries, servers) attempts of timeout_s each: one per server, then Reject.
        attempts = []
        for s in dead:
            with contextlib.suppress(BlockingIOError):
                while True:
                    attempts.append(s.recv(4096))
        assert len(attempts) == 2
    finally:
        for s in dead:
            s.close()
    reasons = [e.get("reason") for e in server.events() if e.get("event") == "auth"]
    assert "upstream unavailable" in reasons


def test_no_password_code_or_secret_in_logs(proxy, radclient):
    seed = secrets.token_bytes(20)
    proxy.add_users(("alice", None, seed))
    with proxy:
        first = radclient(proxy.address, NAS_SECRET, [{"User-Name": "alice", "User-Password": "alice-pw"}])[0]
        code = code_for(seed)
        radclient(
            proxy.address, NAS_SECRET, [{"User-Name": "alice", "User-Password": code, "State": first.get("State")}]
        )
        radclient(proxy.address, NAS_SECRET, [{"User-Name": "alice", "User-Password": "wrong-pw-xyz"}])
    text = proxy.log_text()
    events = [e for e in proxy.events() if e.get("event") == "auth"]
    assert len(events) == 3 and {e["result"] for e in events} == {"challenge", "accept", "reject"}
    for needle in ("alice-pw", "wrong-pw-xyz", code, NAS_SECRET, UPSTREAM_SECRET, base64.b32encode(seed).decode()):
        assert needle not in text


def test_backend_failure_can_stay_silent_so_the_nas_fails_over(radmfa_factory, radclient):
    dead = ("127.0.0.1", free_udp_port())
    server = radmfa_factory(
        upstream=upstream_cfg(dead, timeout_s=0.3, retries=1),
        mfa='unknown_users = "password-only"',
        radius_extra='reject_delay_s = 0\non_backend_failure = "drop"',
    )
    with server:
        assert server.status_server() is not None  # healthy until a server has timed out
        r = radclient(server.address, NAS_SECRET, [{"User-Name": "bob", "User-Password": "bob-pw"}], timeout=2)[0]
        assert r.code is None  # no Reject that would read "wrong password"
        server.wait_for_event("auth", result="drop")  # decided, and no answer sent
        assert server.status_server(timeout=SILENCE_S) is None  # and Status-Server says "not here"
    events = [e for e in server.events() if e.get("event") == "auth"]
    assert events and events[0]["result"] == "drop" and events[0]["reason"] == "upstream unavailable"

"""Accounting through radmfa (RFC 2866) and ending live sessions (RFC 5176).

radclient (the NAS) → radmfa (a real process) → FreeRADIUS as the accounting
upstream, whose detail file shows what reached it. Exact retransmissions are
sent as raw bytes from one socket (radclient 3.2.1 cannot repeat a packet's
authenticator). The NAS side of Disconnect-Requests is a small UDP listener
here that checks the Request Authenticator and Message-Authenticator with the
coa secret by its own code, and answers ACK or NAK.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.integration.harness import NAS_SECRET, REPLY_WAIT_S, SILENCE_S, Radmfa, udp_exchange
from tests.integration.phone_env import add_user, login, peers  # noqa: F401  (peers is a fixture)
from tests.integration.phone_env import make_server as make_phone_server
from tests.integration.test_controls import cli
from tests.integration.test_phone import MOBILE, OFFICE
from tests.peers.accounting import AccountingFreeRadius
from tests.peers.fixtures import require_freeradius
from tests.peers.ports import free_udp_port

pytestmark = pytest.mark.integration

UPSTREAM_SECRET = "acct-upstream-secret"  # noqa: S105 (test peers only)
COA_SECRET = "coa-secret-for-disconnect"  # noqa: S105


@pytest.fixture
def accounting_upstream() -> Iterator[AccountingFreeRadius]:
    server = AccountingFreeRadius(secret=UPSTREAM_SECRET, binary=require_freeradius())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def make_server(radmfa_factory, *, upstream_acct: AccountingFreeRadius | None = None, extra: str = "") -> Radmfa:
    acct_port = free_udp_port()
    upstream = 'type = "local"'
    if upstream_acct is not None:
        upstream += (f'\naccounting_servers = ["{upstream_acct.acct_address}"]\n'
                     f'accounting_secret = "{UPSTREAM_SECRET}"\ntimeout_s = 1\nretries = 2')
    server: Radmfa = radmfa_factory(
        upstream=upstream, accounting=f'accounting_listen = ["127.0.0.1:{acct_port}"]',
        extra=extra,
    )
    server.acct_port = acct_port  # type: ignore[attr-defined]
    return server


def acct_address(server: Radmfa) -> str:
    return f"127.0.0.1:{server.acct_port}"  # type: ignore[attr-defined]


def session_packet(status: str, session: str, user: str = "alice") -> dict[str, str]:
    return {
        "Acct-Status-Type": status, "Acct-Session-Id": session, "User-Name": user,
        "NAS-IP-Address": "192.0.2.10", "Framed-IP-Address": "10.8.0.5",
        "Calling-Station-Id": "198.51.100.7", "NAS-Identifier": "vpn-1",
    }


def raw_accounting(ident: int, attrs: list[tuple[int, bytes]], secret: str) -> bytes:
    """An Accounting-Request made by hand: RFC 2866 §3's Request Authenticator."""
    body = b"".join(bytes((t, len(v) + 2)) + v for t, v in attrs)
    head = struct.pack("!BBH", 4, ident, 20 + len(body))
    authenticator = hashlib.md5(head + bytes(16) + body + secret.encode()).digest()  # noqa: S324
    return head + authenticator + body


def upstream_count(fr: AccountingFreeRadius, session: str, status: str, *, at_least: int) -> int:
    """How many requests for (session, status) the upstream's detail file holds, once it holds ``at_least``."""
    deadline = time.monotonic() + REPLY_WAIT_S
    while True:
        found = sum(1 for r in fr.detail_records()
                    if r.get("Acct-Session-Id") == session and r.get("Acct-Status-Type") == status)
        if found >= at_least or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def sessions(server: Radmfa, *args: str) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = json.loads(cli(server, "session", "list", *args, "--format", "json"))
    return rows


def test_accounting_is_recorded_and_forwarded_once(radmfa_factory, accounting_upstream, radclient):
    fr = accounting_upstream
    server = make_server(radmfa_factory, upstream_acct=fr)
    with server:
        for status in ("Start", "Interim-Update"):
            replies = radclient(acct_address(server), NAS_SECRET, [session_packet(status, "S-1")], code="acct")
            assert replies[0].code == "Accounting-Response", replies.output
        live = sessions(server)
        assert [(r["user"], r["client"], r["session"], r["framed_ip"], r["station"], r["nas"]) for r in live] == [
            ("alice", "localhost", "S-1", "10.8.0.5", "198.51.100.7", "192.0.2.10")
        ]
        assert live[0]["stopped"] is None

        # The same Stop three times (a NAS retransmitting): one answer, the same
        # bytes each time; the upstream sees it once.
        attrs = [(40, (2).to_bytes(4, "big")), (44, b"S-1"), (1, b"alice"), (33, b"hop-1"), (33, b"hop-2")]
        data = raw_accounting(77, attrs, NAS_SECRET)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as nas:
            replies_raw = [udp_exchange(("127.0.0.1", server.acct_port), data, REPLY_WAIT_S, nas)  # type: ignore[attr-defined]
                           for _ in range(3)]
        first = replies_raw[0]
        assert first is not None and first[0] == 5 and first[1] == 77  # Accounting-Response to our Identifier
        assert replies_raw[1] == first and replies_raw[2] == first
        expected = hashlib.md5(first[:4] + data[4:20] + first[20:] + NAS_SECRET.encode()).digest()  # noqa: S324
        assert first[4:20] == expected  # signed with the NAS's secret (RFC 2866 §3)
        assert first.endswith(bytes((33, 7)) + b"hop-1" + bytes((33, 7)) + b"hop-2")  # Proxy-State echoed in order
        assert server.wait_for_event("accounting", status="stop", session="S-1")
    for status in ("Start", "Interim-Update", "Stop"):
        assert upstream_count(fr, "S-1", status, at_least=1) == 1, fr.detail_records()
    time.sleep(SILENCE_S)  # a second copy would have arrived by now
    assert upstream_count(fr, "S-1", "Stop", at_least=2) == 1
    stop = [r for r in fr.detail_records() if r.get("Acct-Status-Type") == "Stop"][0]
    assert "Proxy-State" not in stop  # the NAS's Proxy-State is for radmfa's answer, not forwarded
    ended = [r for r in sessions(server, "--all") if r["session"] == "S-1"]
    assert ended[0]["stopped"] is not None
    assert sessions(server) == []


def test_bad_authenticator_is_dropped(radmfa_factory, accounting_upstream, radclient):
    fr = accounting_upstream
    server = make_server(radmfa_factory, upstream_acct=fr)
    with server:
        forged = raw_accounting(9, [(40, (1).to_bytes(4, "big")), (44, b"S-forged"), (1, b"mallory")], "wrong")
        assert udp_exchange(("127.0.0.1", server.acct_port), forged, SILENCE_S) is None  # type: ignore[attr-defined]
        event = server.wait_for_event("accounting packet dropped", reason="bad_authenticator")
        assert event["client"] == "localhost"
        # radmfa still answers good requests (the drop did not stop the listener).
        replies = radclient(acct_address(server), NAS_SECRET, [session_packet("Start", "S-2")], code="acct")
        assert replies[0].code == "Accounting-Response"
    assert upstream_count(fr, "S-2", "Start", at_least=1) == 1
    assert not [r for r in fr.detail_records() if r.get("Acct-Session-Id") == "S-forged"]
    assert [r["session"] for r in sessions(server, "--all")] == ["S-2"]


def test_without_upstream_accounting_radmfa_answers_itself(radmfa_factory, radclient):
    server = make_server(radmfa_factory)
    with server:
        replies = radclient(acct_address(server), NAS_SECRET, [session_packet("Start", "S-3")], code="acct")
        assert replies[0].code == "Accounting-Response", replies.output
        assert server.wait_for_event("accounting", session="S-3")["upstream"] == "local"
        # Accounting-On from the NAS: it restarted, none of its sessions is left.
        on = radclient(acct_address(server), NAS_SECRET, [{"Acct-Status-Type": "Accounting-On"}], code="acct")
        assert on[0].code == "Accounting-Response"
    rows = sessions(server, "--all")
    assert [(r["session"], r["stopped"] is not None) for r in rows] == [("S-3", True)]


# ---- Disconnect-Request (RFC 5176) to a NAS --------------------------------------------


@dataclass
class NasFake:
    """A NAS's Dynamic Authorization port: verifies and answers Disconnect-Requests."""

    secret: bytes
    answer: int = 41  # Disconnect-ACK; 42 = NAK
    error_cause: int | None = None
    received: list[dict[int, bytes]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            problem = self._check(data)
            if problem:
                self.rejected.append(problem)
                continue
            attrs = self._attrs(data)
            self.received.append(attrs)
            body = b"" if self.error_cause is None else bytes((101, 6)) + self.error_cause.to_bytes(4, "big")
            head = struct.pack("!BBH", self.answer, data[1], 20 + len(body))
            auth = hashlib.md5(head + data[4:20] + body + self.secret).digest()  # noqa: S324
            self.sock.sendto(head + auth + body, addr)

    def _attrs(self, data: bytes) -> dict[int, bytes]:
        attrs, pos = {}, 20
        while pos < len(data):
            attrs[data[pos]] = data[pos + 2 : pos + data[pos + 1]]
            pos += data[pos + 1]
        return attrs

    def _check(self, data: bytes) -> str:
        if data[0] != 40:
            return f"code {data[0]}"
        unsigned = data[:4] + bytes(16) + data[20:]
        if not hmac.compare_digest(hashlib.md5(unsigned + self.secret).digest(), data[4:20]):  # noqa: S324
            return "bad Request Authenticator"
        ma_at = data.find(bytes((80, 18)), 20)
        if ma_at < 0:
            return "no Message-Authenticator"
        zeroed = unsigned[: ma_at + 2] + bytes(16) + unsigned[ma_at + 18 :]
        if not hmac.compare_digest(hmac.new(self.secret, zeroed, hashlib.md5).digest(), data[ma_at + 2 : ma_at + 18]):
            return "bad Message-Authenticator"
        return ""

    def close(self) -> None:
        self._stop.set()
        self.thread.join()
        self.sock.close()


@pytest.fixture
def nas() -> Iterator[NasFake]:
    fake = NasFake(COA_SECRET.encode())
    yield fake
    fake.close()


def admin_events(server: Radmfa) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = json.loads(cli(server, "report", "admin", "--format", "json"))
    return [r for r in rows if r["action"] == "session.disconnect"]


def disconnect_server(radmfa_factory, nas: NasFake) -> Radmfa:
    extra = f'[clients.localhost]\ncoa_port = {nas.port}\ncoa_secret = "{COA_SECRET}"\n'
    server = make_server(radmfa_factory, extra=extra)
    server.add_users(("alice", "alice-pw", None))
    return server


def test_fraud_record_disconnects_the_users_live_session(radmfa_factory, radclient, nas):
    server = disconnect_server(radmfa_factory, nas)
    with server:
        replies = radclient(acct_address(server), NAS_SECRET, [session_packet("Start", "S-10")], code="acct")
        assert replies[0].code == "Accounting-Response"
        out = cli(server, "fraud", "record", "alice", "--reason", "user did not sign in")
    assert "S-10" in out and "Disconnect-ACK" in out, out
    assert nas.rejected == []
    assert len(nas.received) == 1
    sent = nas.received[0]
    assert sent[1] == b"alice" and sent[44] == b"S-10"
    assert sent[4] == socket.inet_aton("192.0.2.10") and sent[8] == socket.inet_aton("10.8.0.5")
    assert sent[32] == b"vpn-1"
    events = admin_events(server)
    assert len(events) == 1 and events[0]["target"] == "alice"
    assert "result=ACK" in str(events[0]["detail"]) and "session=S-10" in str(events[0]["detail"])
    assert sessions(server) == []  # acknowledged: the session is over


@pytest.mark.parametrize(("command", "why"), [
    (("user", "set", "alice", "--state", "blocked"), "blocked by an administrator"),
    (("user", "reset", "alice"), "user reset"),
])
def test_a_block_or_a_reset_disconnects_the_users_live_sessions_only(radmfa_factory, radclient, nas, command, why):
    server = disconnect_server(radmfa_factory, nas)
    server.add_users(("bob", "bob-pw", None))
    with server:
        for packet in (session_packet("Start", "S-40"), session_packet("Start", "S-41"),
                       session_packet("Start", "S-42", user="bob")):
            assert radclient(acct_address(server), NAS_SECRET, [packet], code="acct")[0].code == "Accounting-Response"
        out = cli(server, *command)
    assert "S-40" in out and "S-41" in out and "ended (Disconnect-ACK)" in out, out
    assert nas.rejected == []  # authenticator and Message-Authenticator right, with the coa secret
    assert sorted(r[44] for r in nas.received) == [b"S-40", b"S-41"]  # bob's session is not touched
    assert all(r[1] == b"alice" and r[4] == socket.inet_aton("192.0.2.10") and r[32] == b"vpn-1"
               for r in nas.received)
    events = admin_events(server)
    assert len(events) == 2 and {e["target"] for e in events} == {"alice"}
    assert all("result=ACK" in str(e["detail"]) and f"why={why}" in str(e["detail"]) for e in events), events
    assert [(r["user"], r["session"]) for r in sessions(server)] == [("bob", "S-42")]


def test_session_end_records_a_nak_and_its_error_cause(radmfa_factory, radclient, nas):
    nas.answer, nas.error_cause = 42, 504  # Session Context Not Removable
    server = disconnect_server(radmfa_factory, nas)
    with server:
        replies = radclient(acct_address(server), NAS_SECRET, [session_packet("Start", "S-11")], code="acct")
        assert replies[0].code == "Accounting-Response"
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "radmfa", "session", "end", "S-11", "--config", str(server.config_path)],
        capture_output=True, text=True, check=False, timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert "Disconnect-NAK" in done.stdout and "504 Session Context Not Removable" in done.stdout
    assert nas.rejected == [] and len(nas.received) == 1
    events = admin_events(server)
    assert "result=NAK error-cause=504 Session Context Not Removable" in str(events[0]["detail"])
    assert [r["session"] for r in sessions(server)] == ["S-11"]  # not removed: still live


def test_wrong_coa_secret_is_refused_by_the_nas(radmfa_factory, radclient):
    fake = NasFake(b"the-nas-has-another-secret")
    try:
        server = disconnect_server(radmfa_factory, fake)
        with server:
            replies = radclient(acct_address(server), NAS_SECRET, [session_packet("Start", "S-12")], code="acct")
            assert replies[0].code == "Accounting-Response"
        done = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "radmfa", "session", "end", "alice", "--config", str(server.config_path)],
            capture_output=True, text=True, check=False, timeout=60,
        )
        assert done.returncode == 1 and "no answer" in done.stdout, done.stdout + done.stderr
        assert fake.rejected and set(fake.rejected) == {"bad Request Authenticator"}
        assert "result=NO-ANSWER" in str(admin_events(server)[0]["detail"])
    finally:
        fake.close()


def test_accounting_fails_over_and_stays_silent_when_no_server_answers(radmfa_factory, accounting_upstream, radclient):
    fr = accounting_upstream
    dead = f"127.0.0.1:{free_udp_port()}"  # nobody listens there
    server = make_server(radmfa_factory, upstream_acct=fr)
    toml = server.config_path.read_text().replace(
        f'accounting_servers = ["{fr.acct_address}"]', f'accounting_servers = ["{dead}", "{fr.acct_address}"]')
    server.config_path.write_text(toml)
    with server:
        replies = radclient(acct_address(server), NAS_SECRET, [session_packet("Start", "S-20")], code="acct")
        assert replies[0].code == "Accounting-Response", replies.output
        fr.pause()  # now no accounting server answers
        try:
            lost = radclient(acct_address(server), NAS_SECRET, [session_packet("Stop", "S-20")], code="acct",
                             timeout=5)
            assert lost[0].code is None  # RFC 2866 §2: no answer unless the upstream has it
            server.wait_for_event("accounting not forwarded", client="localhost")
        finally:
            fr.resume()
    assert upstream_count(fr, "S-20", "Start", at_least=1) == 1


def test_a_users_own_fraud_report_disconnects_from_the_server(radmfa_factory, peers, radclient, nas):  # noqa: F811
    """Push "Deny and report fraud": the server process sends the Disconnect-Request."""
    acct_port = free_udp_port()
    coa = f'[clients.localhost]\ncoa_port = {nas.port}\ncoa_secret = "{COA_SECRET}"\n'
    server = make_phone_server(radmfa_factory, peers, extra_toml="[fraud]\nblock_user = true\n" + coa,
                               accounting=f'accounting_listen = ["127.0.0.1:{acct_port}"]')
    server.acct_port = acct_port  # type: ignore[attr-defined]
    add_user(server, "alice", "alice-pw", mobile=MOBILE, office_phone=OFFICE, email="alice@example.com")
    peers.ntfy.tap_label = "Deny and report fraud"
    with server:
        replies = radclient(acct_address(server), NAS_SECRET, [session_packet("Start", "S-30")], code="acct")
        assert replies[0].code == "Accounting-Response"
        menu = login(radclient, server, "alice", "alice-pw")
        assert menu.code == "Access-Challenge"
        assert login(radclient, server, "alice", "4", state=menu.get("State")).code == "Access-Reject"
        event = server.wait_for_event("disconnect", session="S-30")
        assert event["result"] == "ack" and event["reason"].startswith("fraud report ")
    assert nas.rejected == [] and [r[44] for r in nas.received] == [b"S-30"]
    [row] = admin_events(server)
    assert row["actor"] == "radmfa" and "result=ACK" in str(row["detail"])

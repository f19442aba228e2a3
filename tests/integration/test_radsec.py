"""RadSec (RADIUS over TLS, RFC 6614) end to end, with Debian's radsecproxy as
the peer on either side:

* NAS side: radclient → radsecproxy (UDP in, RadSec out) → radmfa's RadSec
  listener → FreeRADIUS (UDP upstream);
* upstream side: radclient → radmfa (UDP) → radsecproxy (RadSec in, UDP out)
  → FreeRADIUS;
* accounting: radclient → radsecproxy → radmfa's RadSec listener (the same
  connection, RFC 6614 §2.1) → FreeRADIUS's accounting port;

and a Python TLS client for what radsecproxy will not send (bad framing, the
same packet twice, Proxy-State).
"""

from __future__ import annotations

import hashlib
import secrets
import socket
import ssl
import struct
from pathlib import Path

import pytest

from radmfa.radius import crypto, wire
from tests.integration.harness import NAS_SECRET, REPLY_WAIT_S, access_request
from tests.integration.test_accounting import UPSTREAM_SECRET as ACCT_UPSTREAM_SECRET
from tests.integration.test_accounting import (  # noqa: F401  (accounting_upstream is a fixture)
    accounting_upstream,
    raw_accounting,
    session_packet,
    sessions,
    upstream_count,
)
from tests.integration.test_foundation import code_for, upstream_cfg
from tests.peers.certs import Issued, TestCa
from tests.peers.fixtures import UPSTREAM_SECRET, require_binary
from tests.peers.ports import free_tcp_port, free_udp_port
from tests.peers.radsecproxy import Radsecproxy

pytestmark = pytest.mark.integration


class Pki:
    def __init__(self, directory: Path) -> None:
        self.ca = TestCa(directory, "site")
        self.other_ca = TestCa(directory, "other")
        self.radmfa = self.ca.issue("radmfa.test", dns=("localhost",), ips=("127.0.0.1",))
        self.nas = self.ca.issue("nas1.test")
        self.nas_other_ca = self.other_ca.issue("nas1.test")
        self.nas_wrong_name = self.ca.issue("intruder.test")
        self.proxy = self.ca.issue("proxy.test", dns=("localhost",), ips=("127.0.0.1",))


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    directory = tmp_path / "pki"
    directory.mkdir()
    return Pki(directory)


@pytest.fixture
def radsecproxy_factory(tmp_path: Path):
    binary = require_binary("radsecproxy")
    started: list[Radsecproxy] = []

    def make(config: str, **ports: tuple[int, ...]) -> Radsecproxy:
        directory = tmp_path / f"radsecproxy{len(started)}"
        directory.mkdir()
        peer = Radsecproxy(directory, config, binary=binary)
        started.append(peer)
        return peer.start(**ports)

    yield make
    for peer in started:
        peer.stop()


def tls_block(issued: Issued, ca: Path) -> str:
    return (f"tls default {{\n    CACertificateFile {ca}\n    CertificateFile {issued.cert}\n"
            f"    CertificateKeyFile {issued.key}\n}}\n")


def radsec_radmfa(radmfa_factory, pki: Pki, upstream: str, radius_more: str = ""):
    """radmfa with a RadSec listener; clients.conf's localhost may connect with nas1.test from the site CA."""
    port = free_tcp_port()
    server = radmfa_factory(
        upstream=upstream,
        radius_extra=(f'reject_delay_s = 0\nradsec_listen = ["127.0.0.1:{port}"]\n'
                      f'radsec_cert = "{pki.radmfa.cert}"\nradsec_key = "{pki.radmfa.key}"\n{radius_more}'),
        extra=f'\n[clients.localhost]\nradsec_ca = "{pki.ca.path}"\nradsec_name = "nas1.test"\n',
    )
    server.radsec_port = port
    return server


def nas_proxy_config(udp_port: int, radmfa_port: int, cert: Issued, ca: Path) -> str:
    """radsecproxy taking UDP from radclient and sending everything to radmfa over RadSec."""
    return (
        f"ListenUDP 127.0.0.1:{udp_port}\n{tls_block(cert, ca)}"
        f'client nas {{\n    host 127.0.0.1\n    type udp\n    secret "{NAS_SECRET}"\n}}\n'
        f"server radmfa {{\n    host 127.0.0.1\n    port {radmfa_port}\n    type tls\n    tls default\n"
        f"    secret radsec\n    StatusServer off\n}}\n"
        "realm * {\n    server radmfa\n}\n"
    )


def login(radclient, address: str, seed: bytes, user: str = "alice", password: str = "alice-pw"):  # noqa: S107
    first = radclient(address, NAS_SECRET, [{"User-Name": user, "User-Password": password}])[0]
    assert first.code == "Access-Challenge", first.raw
    state = first.get("State")
    assert state
    return radclient(address, NAS_SECRET, [{"User-Name": user, "User-Password": code_for(seed), "State": state}])[0]


def test_login_through_radsecproxy_as_nas(radmfa_factory, freeradius_upstream, radclient, radsecproxy_factory, pki):
    server = radsec_radmfa(radmfa_factory, pki, upstream_cfg(freeradius_upstream.address))
    seed = secrets.token_bytes(20)
    server.add_users(("alice", None, seed))
    with server:
        udp_port = free_udp_port()
        peer = radsecproxy_factory(nas_proxy_config(udp_port, server.radsec_port, pki.nas, pki.ca.path),
                                   udp_ports=(udp_port,))
        try:
            reply = login(radclient, f"127.0.0.1:{udp_port}", seed)
        except AssertionError:
            print("radsecproxy:", peer.log_text(), "\nradmfa:", server.log_text()[-8000:], sep="\n")
            raise
        assert reply.code == "Access-Accept", reply.raw
        assert reply.get("Filter-Id") == "vpn-users"
        event = server.wait_for_event("RadSec connection", client="localhost")
        assert event["tls"] in ("TLSv1.2", "TLSv1.3")
        audit = server.wait_for_event("auth", result="accept")
        assert audit["user"] == "alice"


@pytest.mark.parametrize(("which", "reason"), [
    ("nas_other_ca", "radsec_handshake_failed"),
    ("nas_wrong_name", "radsec_wrong_name"),
])
def test_client_certificate_from_another_ca_or_with_another_name_is_refused(
    radmfa_factory, radclient, radsecproxy_factory, pki, which, reason
):
    server = radsec_radmfa(radmfa_factory, pki, 'type = "local"')
    with server:
        udp_port = free_udp_port()
        peer = radsecproxy_factory(
            nas_proxy_config(udp_port, server.radsec_port, getattr(pki, which), pki.ca.path), udp_ports=(udp_port,))
        try:
            reply = radclient(f"127.0.0.1:{udp_port}", NAS_SECRET, [{"User-Name": "alice", "User-Password": "pw"}],
                              timeout=2)[0]
            assert reply.code is None  # nothing gets through
            dropped = server.wait_for_event("RadSec connection dropped", reason=reason)
            assert dropped["client"] == "localhost"
            assert not [e for e in server.events() if e.get("event") == "RadSec connection"]
        except AssertionError:
            print("radsecproxy:", peer.log_text(), sep="\n")
            raise


# ---- a Python RadSec client, for what radsecproxy will not send ----

def tls_connect(pki: Pki, port: int, cert: Issued | None = None) -> ssl.SSLSocket:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=str(pki.ca.path))
    ctx.load_cert_chain((cert or pki.nas).cert, (cert or pki.nas).key)
    raw = socket.create_connection(("127.0.0.1", port), timeout=REPLY_WAIT_S)
    return ctx.wrap_socket(raw, server_hostname="localhost")


def read_packet(sock: ssl.SSLSocket) -> bytes:
    data = b""
    while len(data) < 4 or len(data) < int.from_bytes(data[2:4], "big"):
        chunk = sock.recv(4096)
        if not chunk:
            raise AssertionError(f"connection closed after {data!r}")
        data += chunk
    return data


def closed_by_server(sock: ssl.SSLSocket) -> bool:
    """Wait (up to REPLY_WAIT_S) for the server to close: end of stream, or a reset."""
    sock.settimeout(REPLY_WAIT_S)
    try:
        return sock.recv(4096) == b""
    except TimeoutError:
        return False
    except OSError:  # reset, or TLS ended without close_notify
        return True


def test_stream_framing_dedup_and_proxy_state(radmfa_factory, pki):
    server = radsec_radmfa(radmfa_factory, pki, 'type = "local"')
    with server:
        with tls_connect(pki, server.radsec_port) as sock:
            attrs = [(wire.USER_NAME, b"nobody"), (wire.PROXY_STATE, b"ps-1"), (wire.PROXY_STATE, b"ps-2")]
            data, ra = access_request(7, attrs, secret="radsec", password=b"pw")
            sock.sendall(data[:10])  # a packet split across TLS records is put back together
            sock.sendall(data[10:])
            reply = read_packet(sock)
            assert reply[0] == wire.ACCESS_REJECT and reply[1] == 7
            assert crypto.verify_response(reply, ra, b"radsec", 22)
            frame = wire.parse(reply)
            assert frame.ma_offset >= 0  # Message-Authenticator on every response
            assert [v for t, v in frame.attrs if t == wire.PROXY_STATE] == [b"ps-1", b"ps-2"]
            sock.sendall(data)  # the same packet again: the same bytes back, not decided twice
            assert read_packet(sock) == reply
            forged, _ = access_request(8, [(wire.USER_NAME, b"nobody")], secret="not-radsec", password=b"pw")
            sock.sendall(forged)  # a Message-Authenticator made with another secret: dropped, counted
            server.wait_for_event("packet dropped", reason="bad_message_authenticator", client="localhost")
            sock.sendall(bytes((wire.ACCESS_REQUEST, 8, 0, 19)))  # Length below 20
            assert closed_by_server(sock)
        server.wait_for_event("RadSec connection dropped", reason="radsec_bad_framing")
        assert len([e for e in server.events() if e.get("event") == "auth"]) == 1


def test_connection_limit_and_idle_timeout(radmfa_factory, pki):
    server = radsec_radmfa(radmfa_factory, pki, 'type = "local"', (
        "radsec_client_max_connections = 1\nradsec_idle_timeout_s = 5\nrequest_timeout_s = 2\n"))
    with server:
        with tls_connect(pki, server.radsec_port) as first:
            server.wait_for_event("RadSec connection")
            with pytest.raises(OSError):  # closed before TLS: the handshake fails (ssl.SSLError is an OSError)
                tls_connect(pki, server.radsec_port).close()
            server.wait_for_event("RadSec connection dropped", reason="radsec_client_too_many_connections")
            server.wait_for_event("RadSec connection idle; closing")
            assert closed_by_server(first)
        with tls_connect(pki, server.radsec_port) as third:  # the client's slot is free again
            data, _ = access_request(9, [(wire.USER_NAME, b"nobody")], secret="radsec", password=b"pw")
            third.sendall(data)
            assert read_packet(third)[:2] == bytes((wire.ACCESS_REJECT, 9))


def upstream_proxy_config(tls_port: int, freeradius: tuple[str, int], pki: Pki) -> str:
    """radsecproxy taking RadSec from radmfa and sending everything to FreeRADIUS over UDP."""
    fr_host, fr_port = freeradius
    return (
        f"ListenTLS 127.0.0.1:{tls_port}\n{tls_block(pki.proxy, pki.ca.path)}"
        "client radmfa {\n    host 127.0.0.1\n    type tls\n    tls default\n    secret radsec\n}\n"
        f'server freeradius {{\n    host {fr_host}\n    port {fr_port}\n    type udp\n    secret "{UPSTREAM_SECRET}"\n'
        "    StatusServer off\n}\n"
        "realm * {\n    server freeradius\n}\n"
    )


def test_radsec_upstream_whose_certificate_shows_another_name_is_not_used(
    radmfa_factory, freeradius_upstream, radclient, radsecproxy_factory, pki
):
    tls_port = free_tcp_port()
    config = upstream_proxy_config(tls_port, freeradius_upstream.address, pki)
    server = radmfa_factory(upstream=(
        f'type = "radius"\ntransport = "radsec"\nservers = ["127.0.0.1:{tls_port}"]\ntimeout_s = 10\n'
        f'tls_cert = "{pki.radmfa.cert}"\ntls_key = "{pki.radmfa.key}"\ntls_ca = "{pki.ca.path}"\n'
        'tls_name = "other.test"\n'
    ))
    with server:
        radsecproxy_factory(config, tcp_ports=(tls_port,))
        reply = radclient(server.address, NAS_SECRET, [{"User-Name": "alice", "User-Password": "alice-pw"}])[0]
        assert reply.code == "Access-Reject", reply.raw
        warning = server.wait_for_event("cannot reach RadSec upstream")
        assert "does not show the name 'other.test'" in str(warning["reason"])
        server.wait_for_event("auth", reason="upstream unavailable")


def test_radsec_upstream_through_radsecproxy_with_reconnect(
    radmfa_factory, freeradius_upstream, radclient, radsecproxy_factory, pki
):
    tls_port = free_tcp_port()
    config = upstream_proxy_config(tls_port, freeradius_upstream.address, pki)
    server = radmfa_factory(upstream=(
        f'type = "radius"\ntransport = "radsec"\nservers = ["127.0.0.1:{tls_port}"]\ntimeout_s = 10\n'
        f'tls_cert = "{pki.radmfa.cert}"\ntls_key = "{pki.radmfa.key}"\ntls_ca = "{pki.ca.path}"\n'
        'tls_name = "proxy.test"\n'
    ))
    seed = secrets.token_bytes(20)
    server.add_users(("alice", None, seed))
    with server:
        peer = radsecproxy_factory(config, tcp_ports=(tls_port,))
        try:
            reply = login(radclient, server.address, seed)
            assert reply.code == "Access-Accept", reply.raw
            assert reply.get("Filter-Id") == "vpn-users"
            server.wait_for_event("RadSec upstream connected")
            peer.stop()  # the connection goes; the next login opens a new one
            server.wait_for_event("RadSec upstream connection lost")
            peer.start(tcp_ports=(tls_port,))
            again = radclient(server.address, NAS_SECRET, [{"User-Name": "bob", "User-Password": "wrong"}])[0]
            assert again.code == "Access-Reject", again.raw
            server.wait_for_event("RadSec upstream connected", count=2)
        except AssertionError:
            print("radsecproxy:", peer.log_text(), "\nradmfa:", server.log_text()[-8000:], sep="\n")
            raise


@pytest.mark.parametrize(("broken", "message"), [
    ("radmfa", "[radius] radsec_cert / radsec_key: cannot load"),
    ("ca", "[clients.localhost] radsec_ca: cannot load"),
])
def test_unusable_certificate_or_ca_stops_start_up_naming_the_key(radmfa_factory, pki, broken, message):
    server = radsec_radmfa(radmfa_factory, pki, 'type = "local"')
    (pki.radmfa.cert if broken == "radmfa" else pki.ca.path).write_text("not a certificate\n")
    with pytest.raises(RuntimeError, match="radmfa exited") as failed:
        server.start()
    assert message in str(failed.value)


def test_dead_radsec_upstream_comes_back_by_status_server_without_logins(
    radmfa_factory, freeradius_upstream, radclient, radsecproxy_factory, pki
):
    """radsecproxy answers Status-Server itself: once it is back, radmfa's
    probe (a new TLS connection) finds it, with no login in between."""
    tls_port = free_tcp_port()
    config = upstream_proxy_config(tls_port, freeradius_upstream.address, pki)
    server = radmfa_factory(upstream=(
        f'type = "radius"\ntransport = "radsec"\nservers = ["127.0.0.1:{tls_port}"]\ntimeout_s = 2\n'
        f'tls_cert = "{pki.radmfa.cert}"\ntls_key = "{pki.radmfa.key}"\ntls_ca = "{pki.ca.path}"\n'
        'tls_name = "proxy.test"\ndead_time_s = 3600\nstatus_check_interval_s = 0.5\n'
    ))
    with server:
        peer = radsecproxy_factory(config, tcp_ports=(tls_port,))
        peer.stop()
        try:
            lost = radclient(server.address, NAS_SECRET, [{"User-Name": "bob", "User-Password": "wrong"}])[0]
            assert lost.code == "Access-Reject", lost.raw
            server.wait_for_event("auth", reason="upstream unavailable")
            assert not [e for e in server.events() if e.get("event") == "upstream server alive"]
            peer.start(tcp_ports=(tls_port,))
            alive = server.wait_for_event("upstream server alive", server=f"127.0.0.1:{tls_port}", timeout=60)
            assert alive["by"] == "Status-Server"
            server.wait_for_event("RadSec upstream connected")  # the probe's own connection
        except AssertionError:
            print("radsecproxy:", peer.log_text(), "\nradmfa:", server.log_text()[-8000:], sep="\n")
            raise


# ---- accounting on the RadSec connection ----


def accounting_response_ok(reply: bytes, request: bytes, secret: bytes) -> bool:
    """RFC 2866 §3: MD5(Code+ID+Length+RequestAuth+Attributes+Secret)."""
    return reply[4:20] == hashlib.md5(reply[:4] + request[4:20] + reply[20:] + secret).digest()  # noqa: S324


def test_accounting_over_radsec_is_recorded_and_answered_on_the_connection(radmfa_factory, pki):
    server = radsec_radmfa(radmfa_factory, pki, 'type = "local"')  # accounting_listen = []: RadSec alone
    with server:
        with tls_connect(pki, server.radsec_port) as sock:
            start = [(40, struct.pack("!I", 1)), (44, b"RS-1"), (1, b"alice"), (4, socket.inet_aton("192.0.2.10")),
                     (8, socket.inet_aton("10.8.0.9")), (33, b"hop-1")]
            data = raw_accounting(5, start, "radsec")
            sock.sendall(data)
            reply = read_packet(sock)
            assert reply[0] == wire.ACCOUNTING_RESPONSE and reply[1] == 5
            assert accounting_response_ok(reply, data, b"radsec")  # the RadSec secret, not clients.conf's
            assert reply.endswith(bytes((33, 7)) + b"hop-1")
            sock.sendall(data)  # a retransmission: the same bytes, recorded once
            assert read_packet(sock) == reply
            # The same Identifier for an Access-Request on the connection is another request.
            auth, ra = access_request(5, [(wire.USER_NAME, b"nobody")], secret="radsec", password=b"pw")
            sock.sendall(auth)
            answer = read_packet(sock)
            assert answer[0] == wire.ACCESS_REJECT and crypto.verify_response(answer, ra, b"radsec", 22)
            # Signed with the clients.conf secret instead: dropped, as over UDP.
            sock.sendall(raw_accounting(6, start[:3], NAS_SECRET))
            server.wait_for_event("accounting packet dropped", reason="bad_authenticator", client="localhost")
            stop = raw_accounting(7, [(40, struct.pack("!I", 2)), (44, b"RS-1"), (1, b"alice")], "radsec")
            sock.sendall(stop)
            assert read_packet(sock)[:2] == bytes((wire.ACCOUNTING_RESPONSE, 7))
        event = server.wait_for_event("accounting", status="start", session="RS-1")
        assert event["client"] == "localhost" and event["upstream"] == "local"
        server.wait_for_event("accounting", status="stop", session="RS-1")
        assert len([e for e in server.events() if e.get("event") == "accounting"]) == 2  # the copy was not
    [row] = sessions(server, "--all")
    assert (row["session"], row["user"], row["framed_ip"], row["nas"]) == ("RS-1", "alice", "10.8.0.9", "192.0.2.10")
    assert row["stopped"] is not None


def test_accounting_through_radsecproxy_reaches_the_upstream_accounting_server(
    radmfa_factory, radclient, radsecproxy_factory, pki, accounting_upstream  # noqa: F811 (the fixture)
):
    fr = accounting_upstream
    server = radsec_radmfa(radmfa_factory, pki, (
        f'type = "local"\naccounting_servers = ["{fr.acct_address}"]\n'
        f'accounting_secret = "{ACCT_UPSTREAM_SECRET}"\ntimeout_s = 1\nretries = 2'))
    with server:
        udp_port = free_udp_port()  # radsecproxy takes accounting on its ListenUDP port too
        config = nas_proxy_config(udp_port, server.radsec_port, pki.nas, pki.ca.path).replace(
            "realm * {\n    server radmfa\n}\n", "realm * {\n    server radmfa\n    accountingServer radmfa\n}\n")
        peer = radsecproxy_factory(config, udp_ports=(udp_port,))
        try:
            # Without Message-Authenticator: radsecproxy 1.9 checks an Accounting-Request's
            # differently from radclient's and drops it (its log: "message authenticator, wrong value").
            replies = radclient(f"127.0.0.1:{udp_port}", NAS_SECRET, [session_packet("Start", "RS-2")], code="acct",
                                message_authenticator=False)
            assert replies[0].code == "Accounting-Response", replies.output
            event = server.wait_for_event("accounting", session="RS-2")
            assert event["client"] == "localhost" and event["upstream"] == fr.acct_address
        except AssertionError:
            print("radsecproxy:", peer.log_text(), "\nradmfa:", server.log_text()[-8000:], sep="\n")
            raise
    assert upstream_count(fr, "RS-2", "Start", at_least=1) == 1
    assert [r["session"] for r in sessions(server)] == ["RS-2"]


def test_accounting_goes_to_a_radsec_upstream_and_it_is_probed_back(
    radmfa_factory, radclient, radsecproxy_factory, pki, accounting_upstream  # noqa: F811 (the fixture)
):
    """radclient → radmfa (UDP accounting) → radsecproxy (RadSec in) → FreeRADIUS's accounting port."""
    fr = accounting_upstream
    fr_host, fr_port = fr.acct_address.rsplit(":", 1)
    tls_port, acct_port = free_tcp_port(), free_udp_port()
    config = (
        f"ListenTLS 127.0.0.1:{tls_port}\n{tls_block(pki.proxy, pki.ca.path)}"
        "client radmfa {\n    host 127.0.0.1\n    type tls\n    tls default\n    secret radsec\n}\n"
        f'server acct {{\n    host {fr_host}\n    port {fr_port}\n    type udp\n    secret "{ACCT_UPSTREAM_SECRET}"\n'
        "    StatusServer off\n}\n"
        "realm * {\n    accountingServer acct\n}\n"
    )
    server = radmfa_factory(
        upstream=(f'type = "radius"\ntransport = "radsec"\nservers = ["127.0.0.1:{tls_port}"]\n'
                  f'accounting_servers = ["127.0.0.1:{tls_port}"]\ntimeout_s = 2\nretries = 1\n'
                  f'tls_cert = "{pki.radmfa.cert}"\ntls_key = "{pki.radmfa.key}"\ntls_ca = "{pki.ca.path}"\n'
                  'tls_name = "proxy.test"\ndead_time_s = 3600\nstatus_check_interval_s = 0.5\n'),
        accounting=f'accounting_listen = ["127.0.0.1:{acct_port}"]',
    )
    nas = f"127.0.0.1:{acct_port}"
    with server:
        peer = radsecproxy_factory(config, tcp_ports=(tls_port,))
        try:
            first = radclient(nas, NAS_SECRET, [session_packet("Start", "RU-1")], code="acct")[0]
            assert first.code == "Accounting-Response", first.raw
            assert server.wait_for_event("accounting", session="RU-1")["upstream"] == f"127.0.0.1:{tls_port}"
            peer.stop()
            lost = radclient(nas, NAS_SECRET, [session_packet("Interim-Update", "RU-1")], code="acct", timeout=5)
            assert lost[0].code is None  # RFC 2866 §2: no answer while the upstream does not have it
            server.wait_for_event("accounting not forwarded", client="localhost")
            peer.start(tcp_ports=(tls_port,))
            # Status-Server on a new TLS connection; radsecproxy answers it with an Access-Accept.
            alive = server.wait_for_event("upstream server alive", server=f"127.0.0.1:{tls_port}", timeout=60)
            assert alive["by"] == "Status-Server"
            stop = radclient(nas, NAS_SECRET, [session_packet("Stop", "RU-1")], code="acct")[0]
            assert stop.code == "Accounting-Response", stop.raw
        except AssertionError:
            print("radsecproxy:", peer.log_text(), "\nradmfa:", server.log_text()[-8000:], sep="\n")
            raise
    assert upstream_count(fr, "RU-1", "Start", at_least=1) == 1
    assert upstream_count(fr, "RU-1", "Stop", at_least=1) == 1
    assert upstream_count(fr, "RU-1", "Interim-Update", at_least=0) == 0, fr.detail_records()

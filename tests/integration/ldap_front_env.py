"""Set-up shared by the LDAP front-end tests: a slapd whose access control
lets a user read less than the service account, radmfa (a real process)
with [ldap_front] in front of it, push through the fake ntfy, and the
applications: OpenLDAP's command-line tools and python ldap3."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from ldap3 import SUBTREE, Connection, Server, Tls
from ldap3.operation.search import search_operation
from ldap3.protocol.rfc4511 import LDAPMessage, ProtocolOp
from pyasn1.codec.ber import encoder

from radmfa.front.ldap.ber import Framer
from radmfa.front.ldap.protocol import result_code
from tests.fakes.server import free_tcp_port
from tests.integration.harness import Radmfa
from tests.integration.phone_env import Peers, make_server
from tests.peers.fixtures import missing_peer, require_binary
from tests.peers.slapd import BASE_DN, SERVICE_DN, SERVICE_PW, Slapd

SECRETS = f"ou=secrets,{BASE_DN}"
VAULT = f"cn=vault,{SECRETS}"
# The service account reads ou=secrets and everybody's mobile; a user reads
# only their own mobile and nothing under ou=secrets.
ACL = f"""access to dn.subtree="{SECRETS}"
    by dn.exact="{SERVICE_DN}" read
    by * none
access to attrs=mobile
    by self read
    by dn.exact="{SERVICE_DN}" read
    by * none"""
EXTRA_LDIF = f"""dn: {SECRETS}
objectClass: organizationalUnit
ou: secrets

dn: {VAULT}
objectClass: organizationalRole
cn: vault
description: the service account's eyes only
"""
APP = "wiki"  # the LDAP client's name in [ldap_front.clients.<name>]


@pytest.fixture
def directory() -> Iterator[Slapd]:
    binary = require_binary("slapd")
    require_binary("slapadd")
    server = Slapd(binary=binary, acl=ACL, extra_ldif=EXTRA_LDIF)
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    yield server
    server.stop()


def upstream_toml(slapd: Slapd, *, timeout_s: float = 2) -> str:
    return (
        f'type = "ldap"\nservers = ["{slapd.url}"]\nstart_tls = true\nca_file = "{slapd.pki.ca_file}"\n'
        f'bind_dn = "{SERVICE_DN}"\nbind_password = "{SERVICE_PW}"\nbase_dn = "{BASE_DN}"\ntimeout_s = {timeout_s}\n'
    )


@dataclass
class Front:
    """Where radmfa's LDAP front end listens."""

    server: Radmfa
    ldaps: str
    ldap: str
    ca_file: str

    def tls(self) -> Tls:
        return Tls(ca_certs_file=self.ca_file, validate=ssl.CERT_REQUIRED)


def front_toml(slapd: Slapd, ldaps_port: int, ldap_port: int, *, more: str = "", client: str = "",
               listen: str = "", tables: str = "") -> str:
    listen = listen or f'"ldaps://127.0.0.1:{ldaps_port}", "ldap://127.0.0.1:{ldap_port}"'
    return f"""
[ldap_front]
listen = [{listen}]
cert_file = "{slapd.pki.cert_file}"
key_file = "{slapd.pki.key_file}"
service_binds = ["{SERVICE_DN}"]
{more}

[ldap_front.clients.{APP}]
networks = ["127.0.0.0/8"]
app_name = "Wiki"
{client}
{tables}
"""


def start_front(factory: Callable[..., Radmfa], peers: Peers, slapd: Slapd, *, more: str = "", client: str = "",
                listen: str = "", tables: str = "", mfa: str = "", oob_timeout_s: float = 10, upstream: str = "",
                directory_timeout_s: float = 2, **kw: Any) -> Front:
    """radmfa with [ldap_front]; ``upstream``: more [upstream] keys;
    ``directory_timeout_s``: [upstream] timeout_s, radmfa's wait for slapd."""
    ldaps_port, ldap_port = free_tcp_port(), free_tcp_port()
    toml = front_toml(slapd, ldaps_port, ldap_port, more=more, client=client, listen=listen, tables=tables)
    server = make_server(
        factory, peers, upstream=upstream_toml(slapd, timeout_s=directory_timeout_s) + upstream, mfa=mfa,
        oob_timeout_s=oob_timeout_s, extra_toml=toml, **kw,
    )
    return Front(server, f"ldaps://127.0.0.1:{ldaps_port}", f"ldap://127.0.0.1:{ldap_port}", str(slapd.pki.ca_file))


def ldap_tool(front: Front, tool: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """An OpenLDAP command-line tool, trusting the test CA."""
    env = dict(os.environ, LDAPTLS_CACERT=front.ca_file, LDAPTLS_REQCERT="demand")
    return subprocess.run([require_binary(tool), *args], capture_output=True, text=True, env=env, timeout=timeout,
                          check=False)


class Apps:
    """Python ldap3 applications; every connection is closed at the end of the test."""

    def __init__(self) -> None:
        self.opened: list[Connection] = []

    def bind(self, front: Front, url: str, user: str, password: str, *, start_tls: bool = False) -> Connection:
        """A bind on a new connection; the connection, bound or not."""
        host, port = url.rsplit(":", 1)
        server = Server(host.split("//")[1], port=int(port), use_ssl=url.startswith("ldaps"), tls=front.tls(),
                        connect_timeout=10)
        conn = Connection(server, user=user, password=password, receive_timeout=30, raise_exceptions=False)
        self.opened.append(conn)
        conn.open()
        if start_tls:
            conn.start_tls()
        conn.bind()
        return conn

    def close(self) -> None:
        for conn in self.opened:
            conn.unbind()


@pytest.fixture
def apps() -> Iterator[Apps]:
    opened = Apps()
    yield opened
    opened.close()


def other_address() -> str:
    """An address of this host that is not loopback (to connect from off loopback)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent
            address = str(probe.getsockname()[0])
    except OSError:
        address = ""
    if not address or address.startswith("127."):
        missing_peer("this host has no address off loopback to connect from")
    return address


def audit_rows(server: Radmfa) -> list[dict[str, Any]]:
    return [e for e in server.events() if e.get("event") == "auth" and e.get("front") == "ldap"]


def dropped(server: Radmfa) -> dict[str, int]:
    """What the front end counted as dropped, as logged when it stopped."""
    stopped = [e for e in server.events() if e.get("event") == "ldap front stopped"]
    assert stopped, server.log_text()
    counts: dict[str, int] = stopped[-1]["dropped"]  # type: ignore[assignment]
    return counts


class RawClient:
    """A hand-driven LDAP connection, for what no real client sends."""

    def __init__(self, url: str, front: Front | None = None, *, source: str | None = None) -> None:
        host, port = url.split("//")[1].rsplit(":", 1)
        sock = socket.create_connection((host, int(port)), timeout=10,
                                        source_address=(source, 0) if source else None)
        if url.startswith("ldaps"):
            assert front is not None
            context = ssl.create_default_context(cafile=front.ca_file)
            sock = context.wrap_socket(sock, server_hostname=host)
        self.sock = sock
        self.framer = Framer(1 << 24)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def receive(self, timeout: float = 10) -> bytes | None:
        """The next whole message, or None when the server closed the connection."""
        self.sock.settimeout(timeout)
        while (message := self.framer.next()) is None:
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                return None
            if not data:
                return None
            self.framer.feed(data)
        return message

    def result(self, timeout: float = 10) -> tuple[int, str, int]:
        message = self.receive(timeout)
        assert message is not None, "connection closed"
        return result_code(message)

    def closed(self, timeout: float = 10) -> bool:
        """Has the server closed the connection (after whatever it sent)?"""
        while True:
            message = self.receive(timeout)
            if message is None:
                return True

    def close(self) -> None:
        self.sock.close()


def message(message_id: int, op: str, body: Any) -> bytes:
    msg = LDAPMessage()
    msg["messageID"] = message_id
    choice = ProtocolOp()
    choice.setComponentByName(op, body)
    msg["protocolOp"] = choice
    return bytes(encoder.encode(msg))


def search_pdu(message_id: int, base: str, ldap_filter: str = "(objectClass=*)") -> bytes:
    body = search_operation(base, ldap_filter, SUBTREE, "NEVER", ["1.1"], 0, 0, False, False, False)
    return message(message_id, "searchRequest", body)

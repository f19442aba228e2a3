"""Blocking LDAP connections (ldap3), TLS verified, and the escaping rules.

Everything here blocks; callers run it in a bounded thread pool, never on
the event loop. ldap3's own host name check calls ssl.match_hostname, which
is deprecated (removed in Python 3.12), so TLS is wrapped here with an
SSLContext that checks the certificate *and* the host name itself.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from typing import Any

from ldap3 import BASE, NONE, SIMPLE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPException

from radmfa.config import LdapConfig, LdapServer

# Result codes, RFC 4511 Appendix A.
SUCCESS = 0
SIZE_LIMIT_EXCEEDED = 4
NO_SUCH_OBJECT = 32
INVALID_CREDENTIALS = 49
BUSY = 51
UNAVAILABLE = 52

# AD's LDAP_MATCHING_RULE_IN_CHAIN: membership through nested groups.
IN_CHAIN = "1.2.840.113556.1.4.1941"


class ServerFailed(Exception):
    """The server did not answer usefully (socket, TLS, busy): try the next one."""


def escape_filter_value(value: str) -> str:
    """RFC 4515 §3: ``*``, ``(``, ``)``, ``\\`` and NUL become ``\\XX``.

    Applied to every user-supplied value placed in a filter, so a User-Name
    such as ``*`` or ``alice)(uid=*`` matches only itself.
    """
    out = []
    for ch in value:
        out.append(f"\\{ord(ch):02x}" if ch in "*()\\\x00" else ch)
    return "".join(out)


def escape_dn_value(value: str) -> str:
    """RFC 4514 §2.4: escape an attribute value placed in a DN."""
    out = []
    for ch in value:
        if ch in ',+"\\<>;=':
            out.append("\\" + ch)
        elif ch == "\x00":
            out.append("\\00")
        else:
            out.append(ch)
    text = "".join(out)
    if text[:1] in (" ", "#"):
        text = "\\" + text
    if text.endswith(" ") and not text.endswith("\\ "):
        text = text[:-1] + "\\ "
    return text


def tls_context(cfg: LdapConfig) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(cfg.ca_file) if cfg.ca_file else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if not cfg.verify:  # an operator's explicit choice; docs warn against it
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class _ContextTls(Tls):  # type: ignore[misc]
    """ldap3's Tls, but wrapping with our context: certificate chain and host
    name verified during the handshake (RFC 6125), by the ssl module."""

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(validate=context.verify_mode)
        self._context = context

    def wrap_socket(self, connection: Any, do_handshake: bool = False) -> None:
        connection.socket = self._context.wrap_socket(
            connection.socket,
            server_side=False,
            do_handshake_on_connect=do_handshake,
            server_hostname=connection.server.host,
        )


def connect(server: LdapServer, cfg: LdapConfig, context: ssl.SSLContext, timeout: float) -> Connection:
    """An open connection (TLS set up as configured), not yet bound."""
    tls = _ContextTls(context)
    srv = Server(
        server.host, port=server.port, use_ssl=server.scheme == "ldaps", tls=tls,
        get_info=NONE, connect_timeout=timeout,
    )
    conn = Connection(
        # No receive_timeout: ldap3 packs it into SO_RCVTIMEO as whole seconds
        # only; connect_timeout is the socket's timeout and covers every recv.
        srv, authentication=SIMPLE, auto_bind="NONE", raise_exceptions=False,
        auto_referrals=False, auto_escape=False, check_names=False, read_only=True,
    )
    try:
        conn.open()
        # Small request/response exchanges: without TCP_NODELAY the first bind
        # after a TLS handshake waits ~40 ms (Nagle against the server's
        # delayed ACK of the client's Finished).
        conn.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if cfg.start_tls:
            conn.start_tls()  # RFC 4513 §3: before any bind, so no password goes in clear
    except LDAPException as e:
        close(conn)
        raise ServerFailed(f"{server.url}: {e}") from None
    except OSError as e:
        close(conn)
        raise ServerFailed(f"{server.url}: {e}") from None
    return conn


def remaining(deadline: float) -> float:
    """Seconds left until ``deadline`` (time.monotonic()); ServerFailed when none."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise ServerFailed("timed out")
    return left


def worth_retrying(deadline: float, timeout: float) -> bool:
    """Retry on a new connection only while more than half of the time is
    left: a pooled connection that waited out most of it met a server that
    hangs, not one that had closed an idle connection."""
    return deadline - time.monotonic() > timeout / 2


def _until(conn: Connection, deadline: float | None) -> None:
    # The socket's timeout bounds every recv of the next operation.
    if deadline is not None and conn.socket is not None:
        try:
            conn.socket.settimeout(remaining(deadline))
        except OSError as e:  # the server had closed it: a pooled connection gone stale
            raise ServerFailed(str(e)) from None


def server_trouble(code: int) -> bool:
    """A result that says the server, not the request, is at fault (no
    answer, busy, unavailable): try the next server."""
    return code < 0 or code in (BUSY, UNAVAILABLE)


def simple_bind(conn: Connection, dn: str, password: bytes | str, *, deadline: float | None = None) -> int:
    """Bind ``conn`` as ``dn``; returns the result code. Raises ServerFailed on I/O errors."""
    if conn.closed:
        # ldap3's bind() reopens a closed connection by itself, without the
        # StartTLS connect() does: the password would go out in clear.
        raise ServerFailed("connection closed")
    _until(conn, deadline)
    conn.user, conn.password = dn, password
    try:
        conn.bind()
    except LDAPException as e:
        raise ServerFailed(str(e)) from None
    result = conn.result or {}
    if result.get("type") != "bindResponse":
        raise ServerFailed(f"no bind response: {result.get('description', 'connection lost')}")
    return int(result.get("result", -1))


def search(
    conn: Connection, base: str, ldap_filter: str, attributes: list[str], *, scope: str = SUBTREE, size_limit: int = 0,
    paged_size: int | None = None, deadline: float | None = None,
) -> tuple[int, list[tuple[str, dict[str, Any]]]]:
    """(result code, [(dn, attributes)]); referrals are ignored."""
    _until(conn, deadline)
    try:
        conn.search(base, ldap_filter, search_scope=scope, attributes=attributes, size_limit=size_limit,
                    paged_size=paged_size)
    except LDAPException as e:
        raise ServerFailed(str(e)) from None
    code = int((conn.result or {}).get("result", -1))
    entries = [(r["dn"], dict(r.get("attributes", {})))
               for r in (conn.response or []) if r.get("type") == "searchResEntry"]
    return code, entries


def matches(conn: Connection, base: str, ldap_filter: str, *, deadline: float | None = None) -> tuple[int, bool]:
    """(result code, does the entry ``base`` match ``ldap_filter``?): a base-scope search."""
    code, entries = search(conn, base, ldap_filter, ["1.1"], scope=BASE, deadline=deadline)
    return code, bool(entries)


def single_value(attrs: dict[str, Any], name: str) -> str | None:
    """The one value of attribute ``name`` (names are case-insensitive,
    RFC 4512 §2.5); None when it is absent, empty or has several values."""
    for key, value in attrs.items():
        if key.casefold() == name.casefold():
            values = value if isinstance(value, list) else [value]
            if len(values) == 1 and isinstance(values[0], str) and values[0]:
                return values[0]
            return None
    return None


def close(conn: Connection) -> None:
    with contextlib.suppress(Exception):  # closing a broken connection: nothing left to do
        conn.unbind()
    sock = getattr(conn, "socket", None)  # ldap3 leaves it open when open() failed
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.close()

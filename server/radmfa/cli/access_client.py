"""A small blocking RADIUS client that sends Access-Requests, like a NAS would.

Used by ``radmfa login`` and reusable from tests and benchmarks. Packets are
built and checked with radmfa's own ``radius.wire`` and ``radius.crypto``:
every request carries Message-Authenticator first (BlastRADIUS), and a reply
counts only if its Identifier matches, its Response Authenticator verifies and
it carries a valid Message-Authenticator. Anything else is dropped, counted
and mentioned if no good reply ever arrives.
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
import time
from dataclasses import dataclass
from types import TracebackType

from radmfa.config import HostPort, format_host_port
from radmfa.core.model import Attr
from radmfa.errors import RadmfaError
from radmfa.radius import crypto, wire

RESPONSE_CODES = frozenset((wire.ACCESS_ACCEPT, wire.ACCESS_REJECT, wire.ACCESS_CHALLENGE))


class NoAnswer(RadmfaError):
    """No valid reply after every try; the message says what was seen instead."""


@dataclass(frozen=True, slots=True)
class Reply:
    code: int
    attrs: tuple[Attr, ...]

    @property
    def name(self) -> str:
        return wire.CODE_NAMES.get(self.code, f"code {self.code}")

    @property
    def state(self) -> bytes | None:
        for t, v in self.attrs:
            if t == wire.STATE:
                return v
        return None

    def messages(self) -> list[str]:
        """Reply-Message texts, in order (RFC 2865 §5.18)."""
        return [v.decode("utf-8", "replace") for t, v in self.attrs if t == wire.REPLY_MESSAGE]


def build_request(
    ident: int,
    authenticator: bytes,
    secret: bytes,
    *,
    username: bytes,
    password: bytes,
    nas_ip: ipaddress.IPv4Address,
    state: bytes | None = None,
) -> bytes:
    """An Access-Request with Message-Authenticator first and User-Password hidden.

    Raises ValueError for a password over 128 octets or a value over 253.
    """
    attrs: list[Attr] = [
        (wire.USER_NAME, username),
        # RFC 2865 §5.2: hidden with the secret and this request's authenticator
        (wire.USER_PASSWORD, crypto.hide_password(password, secret, authenticator)),
        (wire.NAS_IP_ADDRESS, nas_ip.packed),
    ]
    if state is not None:
        attrs.append((wire.STATE, state))  # RFC 2865 §5.24: echo the challenge's State
    return crypto.sign_request(
        wire.ACCESS_REQUEST, ident, authenticator, wire.encode_attrs(attrs), secret
    )


def check_reply(data: bytes, *, ident: int, authenticator: bytes, secret: bytes) -> Reply | None:
    """The reply to the request (ident, authenticator), or None if ``data`` is not it."""
    try:
        frame = wire.parse(data, RESPONSE_CODES)
    except wire.Malformed:
        return None
    if frame.ident != ident or frame.ma_offset < 0:
        return None
    if not crypto.verify_response(frame.data, authenticator, secret, frame.ma_offset):
        return None
    return Reply(frame.code, frame.attrs)


def source_address(server: HostPort) -> str:
    """The local address packets to ``server`` leave from (what the server sees)."""
    with _connected_socket(server) as sock:
        return str(sock.getsockname()[0])


class AccessClient:
    """Send Access-Requests to one server and wait for verified replies.

    Each request gets a new Identifier and Request Authenticator; a timeout
    resends the identical packet (RFC 5080 §2.2.1), up to ``tries`` times.
    """

    def __init__(
        self,
        server: HostPort,
        secret: bytes,
        *,
        nas_ip: str = "127.0.0.1",
        timeout: float = 5.0,
        tries: int = 3,
    ) -> None:
        try:
            self.nas_ip = ipaddress.IPv4Address(nas_ip)
        except ValueError:
            raise RadmfaError(f"NAS-IP-Address must be an IPv4 address, got {nas_ip!r}") from None
        self.server, self.secret, self.timeout, self.tries = server, secret, timeout, tries
        self._ident = secrets.randbelow(256)
        self._sock = _connected_socket(server)

    def __enter__(self) -> AccessClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._sock.close()

    def send(self, username: bytes, password: bytes, *, state: bytes | None = None) -> Reply:
        """One Access-Request; the verified reply, or NoAnswer."""
        self._ident = (self._ident + 1) % 256
        authenticator = crypto.new_authenticator()
        try:
            packet = build_request(
                self._ident, authenticator, self.secret,
                username=username, password=password, nas_ip=self.nas_ip, state=state,
            )
        except ValueError as e:
            raise RadmfaError(f"cannot build the Access-Request: {e}") from None
        seen = _Seen()
        for _ in range(self.tries):
            self._sock.send(packet)
            reply = self._wait(self._ident, authenticator, seen)
            if reply is not None:
                return reply
        raise NoAnswer(seen.explain(self.server, self.tries, self.timeout))

    def _wait(self, ident: int, authenticator: bytes, seen: _Seen) -> Reply | None:
        deadline = time.monotonic() + self.timeout
        while (left := deadline - time.monotonic()) > 0:
            self._sock.settimeout(left)
            try:
                data = self._sock.recv(wire.MAX_LEN + 1)
            except TimeoutError:
                return None
            except ConnectionRefusedError:  # ICMP port unreachable: nobody listens
                seen.refused += 1
                return None
            reply = check_reply(data, ident=ident, authenticator=authenticator, secret=self.secret)
            if reply is not None:
                return reply
            seen.dropped += 1
        return None


class _Seen:
    """What came back instead of a good reply, for the NoAnswer message."""

    def __init__(self) -> None:
        self.dropped = 0
        self.refused = 0

    def explain(self, server: HostPort, tries: int, timeout: float) -> str:
        message = f"no answer from {format_host_port(*server)} after {tries} tries of {timeout:g}s"
        if self.refused:
            message += "; the port is unreachable (is the server running there?)"
        if self.dropped:
            message += (
                f"; {self.dropped} replies were dropped because they did not verify or lacked "
                "Message-Authenticator (wrong shared secret?)"
            )
        return message


def _connected_socket(server: HostPort) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            server[0], server[1], type=socket.SOCK_DGRAM
        )[0]
    except socket.gaierror as e:
        raise RadmfaError(f"cannot resolve RADIUS server {server[0]!r}: {e.strerror}") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.connect(address)  # a connected socket receives only the server's datagrams
    except OSError as e:
        sock.close()
        raise RadmfaError(
            f"cannot reach RADIUS server {format_host_port(*server)}: {e.strerror}"
        ) from None
    return sock

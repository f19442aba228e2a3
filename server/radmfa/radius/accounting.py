"""Accounting (RFC 2866) and Dynamic Authorization (RFC 5176) packets.

Pure: the Request Authenticator of an Accounting-Request, CoA-Request or
Disconnect-Request is not random but an MD5 over the packet and the secret
(RFC 2866 §3, RFC 5176 §2.3); a Message-Authenticator in such a request is
computed with that field zeroed first (RFC 5176 §3.5, as FreeRADIUS does).
Responses are signed and checked as every other (crypto.py).
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass

from radmfa.radius import wire
from radmfa.radius.wire import HEADER_LEN, MA_LEN, MAX_LEN, MESSAGE_AUTHENTICATOR, Frame

DISCONNECT_REQUEST = 40
DISCONNECT_ACK = 41
DISCONNECT_NAK = 42

ACCT_STATUS_TYPE = 40
ACCT_SESSION_ID = 44
EVENT_TIMESTAMP = 55

# Acct-Status-Type values (RFC 2866 §5.1)
START = 1
STOP = 2
INTERIM_UPDATE = 3
ACCOUNTING_ON = 7
ACCOUNTING_OFF = 8
STATUS_NAMES = {START: "start", STOP: "stop", INTERIM_UPDATE: "interim", ACCOUNTING_ON: "on", ACCOUNTING_OFF: "off"}

# Error-Cause values (RFC 5176 §3.6) a NAS may put in a Disconnect-NAK.
ERROR_CAUSES = {
    201: "Residual Session Context Removed",
    401: "Unsupported Attribute",
    402: "Missing Attribute",
    403: "NAS Identification Mismatch",
    404: "Invalid Request",
    405: "Unsupported Service",
    406: "Unsupported Extension",
    407: "Invalid Attribute Value",
    501: "Administratively Prohibited",
    502: "Request Not Routable (Proxy)",
    503: "Session Context Not Found",
    504: "Session Context Not Removable",
    505: "Other Proxy Processing Error",
    506: "Resources Unavailable",
    507: "Request Initiated",
    508: "Multiple Session Selection Unsupported",
}

_ZERO16 = bytes(16)
_MA_HEADER = bytes((MESSAGE_AUTHENTICATOR, MA_LEN))


def request_authenticator(data: bytes, secret: bytes) -> bytes:
    """MD5(Code + Identifier + Length + 16 zero octets + Attributes + Secret)."""
    return hashlib.md5(data[:4] + _ZERO16 + data[HEADER_LEN:] + secret).digest()  # noqa: S324 (RFC 2866)


def verify_request(frame: Frame, secret: bytes) -> bool:
    """The Request Authenticator and, when present, the Message-Authenticator
    of an Accounting-, CoA- or Disconnect-Request; constant-time."""
    data = frame.data
    if not hmac.compare_digest(request_authenticator(data, secret), frame.authenticator):
        return False
    if frame.ma_offset < 0:
        return True
    off = frame.ma_offset
    zeroed = data[:4] + _ZERO16 + data[HEADER_LEN:off] + _ZERO16 + data[off + 16 :]
    return hmac.compare_digest(data[off : off + 16], hmac.digest(secret, zeroed, "md5"))


def sign_request(code: int, ident: int, attrs: bytes, secret: bytes, *, message_authenticator: bool) -> bytes:
    """An Accounting-/CoA-/Disconnect-Request; with ``message_authenticator``
    one goes first, computed over the packet with a zero Request Authenticator."""
    body = (_MA_HEADER + _ZERO16 + attrs) if message_authenticator else attrs
    length = HEADER_LEN + len(body)
    if length > MAX_LEN:
        raise ValueError(f"request would be {length} octets, above the RADIUS maximum")
    head = struct.pack("!BBH", code, ident, length)
    if message_authenticator:
        ma = hmac.digest(secret, head + _ZERO16 + body, "md5")
        body = _MA_HEADER + ma + attrs
    packet = head + _ZERO16 + body
    return head + request_authenticator(packet, secret) + body


@dataclass(frozen=True, slots=True)
class AccountingEvent:
    """What one Accounting-Request says about a session (None: not sent)."""

    status: int
    session_id: str
    username: str
    nas_ip: str
    framed_ip: str
    calling_station_id: str
    nas_identifier: str

    @property
    def status_name(self) -> str:
        return STATUS_NAMES.get(self.status, str(self.status))


def integer(value: bytes | None) -> int | None:
    return int.from_bytes(value, "big") if value is not None and len(value) == 4 else None


def ipv4(value: bytes | None) -> str:
    return ".".join(str(b) for b in value) if value is not None and len(value) == 4 else ""


def text(value: bytes | None) -> str:
    """A printable form of a string attribute ("" when absent)."""
    if value is None:
        return ""
    decoded = value.decode("utf-8", "replace")
    return "".join(c if c.isprintable() else "?" for c in decoded)[:253]


def accounting_event(frame: Frame) -> AccountingEvent | None:
    """The session facts of an Accounting-Request; None without Acct-Status-Type
    (RFC 2866 §5: it MUST be present)."""
    status = integer(frame.get(ACCT_STATUS_TYPE))
    if status is None:
        return None
    return AccountingEvent(
        status=status,
        session_id=text(frame.get(ACCT_SESSION_ID)),
        username=text(frame.get(wire.USER_NAME)),
        nas_ip=ipv4(frame.get(wire.NAS_IP_ADDRESS)),
        framed_ip=ipv4(frame.get(wire.FRAMED_IP_ADDRESS)),
        calling_station_id=text(frame.get(wire.CALLING_STATION_ID)),
        nas_identifier=text(frame.get(wire.NAS_IDENTIFIER)),
    )


def error_cause(frame: Frame) -> str:
    """The NAK's Error-Cause as "503 Session Context Not Found" ("" when none)."""
    value = integer(frame.get(wire.ERROR_CAUSE))
    if value is None:
        return ""
    return f"{value} {ERROR_CAUSES.get(value, 'unknown')}"


def sign_response(ident: int, request_auth: bytes, attrs: bytes, secret: bytes, *,
                  message_authenticator: bool = True) -> bytes:
    """An Accounting-Response, with ``message_authenticator`` one first; then
    the Response Authenticator over the final packet (RFC 2866 §3).

    No RFC says how an Accounting-Response's MA is made: FreeRADIUS
    (radclient included) computes it over a zero authenticator field, as
    here, radsecproxy over the request's authenticator (as RFC 5176 §3.1
    does for CoA answers) and drops a reply whose MA it computes otherwise.
    So the listener sends one only to a NAS whose request had one."""
    length = HEADER_LEN + (MA_LEN if message_authenticator else 0) + len(attrs)
    if length > MAX_LEN:
        raise ValueError(f"response would be {length} octets, above the RADIUS maximum")
    head = struct.pack("!BBH", wire.ACCOUNTING_RESPONSE, ident, length)
    if message_authenticator:
        ma = hmac.digest(secret, head + _ZERO16 + _MA_HEADER + _ZERO16 + attrs, "md5")
        body = _MA_HEADER + ma + attrs
    else:
        body = attrs
    return head + hashlib.md5(head + request_auth + body + secret).digest() + body  # noqa: S324 (RFC 2866)


def verify_response(frame: Frame, request_auth: bytes, secret: bytes) -> bool:
    """An Accounting-Response's Response Authenticator and, when present, its
    MA (over a zero authenticator field, as sign_response makes it)."""
    data = frame.data
    expected = hashlib.md5(data[:4] + request_auth + data[HEADER_LEN:] + secret).digest()  # noqa: S324
    if not hmac.compare_digest(expected, frame.authenticator):
        return False
    if frame.ma_offset < 0:
        return True
    off = frame.ma_offset
    zeroed = data[:4] + _ZERO16 + data[HEADER_LEN:off] + _ZERO16 + data[off + 16 :]
    return hmac.compare_digest(data[off : off + 16], hmac.digest(secret, zeroed, "md5"))

"""Framing checks done before any attribute decoding (checklist §1).

``parse`` either returns a ``Frame`` whose attributes exactly fill the packet
or raises ``Malformed`` with a short reason used as a counter label. Nothing
here interprets attribute values beyond the few structural rules the RFCs put
on the whole packet.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import permutations
from typing import NamedTuple

# One RADIUS attribute as it travels on the wire: (type, value). Vendor-Specific
# attributes keep their whole value (vendor id + sub-attributes) as bytes.
# Salt-encrypted values (Tunnel-Password, MS-MPPE-*-Key) are held in plaintext
# form inside radmfa; packet.py encrypts them on the way out.
Attr = tuple[int, bytes]

ACCESS_REQUEST = 1
ACCESS_ACCEPT = 2
ACCESS_REJECT = 3
ACCOUNTING_REQUEST = 4
ACCOUNTING_RESPONSE = 5
ACCESS_CHALLENGE = 11
STATUS_SERVER = 12

USER_NAME = 1
USER_PASSWORD = 2
CHAP_PASSWORD = 3
NAS_IP_ADDRESS = 4
SERVICE_TYPE = 6
FRAMED_IP_ADDRESS = 8
REPLY_MESSAGE = 18
STATE = 24
CLASS = 25
VENDOR_SPECIFIC = 26
SESSION_TIMEOUT = 27
IDLE_TIMEOUT = 28
CALLING_STATION_ID = 31
NAS_IDENTIFIER = 32
PROXY_STATE = 33
CHAP_CHALLENGE = 60
TUNNEL_PASSWORD = 69
ARAP_PASSWORD = 70
PROMPT = 76
EAP_MESSAGE = 79
MESSAGE_AUTHENTICATOR = 80
ERROR_CAUSE = 101

HEADER_LEN = 20
MIN_LEN = 20  # RFC 2865 §3
MAX_LEN = 4096  # RFC 2865 §3 (UDP)
MAX_ATTRIBUTES = 200  # FreeRADIUS security.max_attributes (checklist PKT-9)
MA_LEN = 18  # RFC 2869 §5.14

CODE_NAMES = {
    ACCESS_REQUEST: "Access-Request",
    ACCESS_ACCEPT: "Access-Accept",
    ACCESS_REJECT: "Access-Reject",
    ACCOUNTING_REQUEST: "Accounting-Request",
    ACCOUNTING_RESPONSE: "Accounting-Response",
    ACCESS_CHALLENGE: "Access-Challenge",
    STATUS_SERVER: "Status-Server",
}


class Malformed(Exception):
    """The datagram breaks a framing rule; ``reason`` is a counter label."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Frame(NamedTuple):
    """One datagram, framing checked. A tuple: ``parse`` makes two for each
    proxied request (the NAS's and the upstream's reply), and a tuple is
    built whole where a frozen dataclass is filled one field at a time."""

    code: int
    ident: int
    authenticator: bytes
    data: bytes  # exactly Length octets; trailing padding already removed
    attrs: tuple[Attr, ...]
    ma_offset: int  # offset of the Message-Authenticator *value* in data, or -1
    proxy_states: int = 0  # how many Proxy-State attributes (counted while splitting)

    def get(self, attr_type: int) -> bytes | None:
        for t, v in self.attrs:
            if t == attr_type:
                return v
        return None

    def all(self, attr_type: int) -> list[bytes]:
        return [v for t, v in self.attrs if t == attr_type]


def parse(data: bytes, allowed_codes: frozenset[int] | None = None) -> Frame:
    """Validate framing and split attributes (no value decoding).

    Every datagram of every NAS passes here: one walk over the attributes,
    the Access-Request rules (PKT-8) checked on the few attribute types they
    name, gathered during that walk."""
    size = len(data)
    if size < MIN_LEN:
        raise Malformed("short_datagram")  # PKT-1
    if size > MAX_LEN:
        raise Malformed("too_long")  # PKT-3: no RADIUS/UDP datagram exceeds 4096 octets
    code = data[0]
    if allowed_codes is not None and code not in allowed_codes:
        raise Malformed("bad_code")  # PKT-4
    length = (data[2] << 8) | data[3]
    if length < MIN_LEN:
        raise Malformed("bad_length")  # PKT-1
    if length > MAX_LEN:
        raise Malformed("too_long")  # PKT-3
    if size < length:
        raise Malformed("truncated")  # PKT-2: shorter than Length → discard
    if size > length:
        data = data[:length]  # PKT-2: octets past Length are padding
    attrs: list[Attr] = []
    append = attrs.append
    once: list[int] = []  # the types PKT-8 allows once, as met
    pos = HEADER_LEN
    ma_offset = -1
    proxy_states = 0
    while pos < length:
        if pos + 2 > length:
            raise Malformed("attr_header_overflow")  # PKT-5
        attr_type = data[pos]
        attr_len = data[pos + 1]
        if attr_type == 0:
            raise Malformed("attr_type_zero")
        if attr_len < 2:
            raise Malformed("attr_too_short")
        end = pos + attr_len
        if end > length:
            raise Malformed("attr_overflow")
        if attr_type in _WATCHED:
            if attr_type == MESSAGE_AUTHENTICATOR:
                if attr_len != MA_LEN:
                    raise Malformed("ma_bad_length")  # PKT-7
                if ma_offset >= 0:
                    raise Malformed("ma_duplicate")
                ma_offset = pos + 2
            elif attr_type == PROXY_STATE:
                proxy_states += 1
            else:
                once.append(attr_type)
        append((attr_type, data[pos + 2 : end]))
        # 201 attributes need at least 402 octets: shorter packets skip the count.
        if pos >= _COUNT_FROM and len(attrs) > MAX_ATTRIBUTES:
            raise Malformed("too_many_attributes")  # PKT-9
        pos = end
    # Usually distinct types and one credential at most: nothing to find.
    # The usual orders (User-Name and User-Password, State with them) are
    # known good: one lookup instead of a set and an intersection.
    if code == ACCESS_REQUEST and len(once) > 1 and tuple(once) not in _PLAIN_ONCE and (
        len(set(once)) < len(once) or len(_CREDENTIAL_SET.intersection(once)) > 1
    ):
        _check_access_request(once)
    # Every field, in order: Frame's __new__ without its Python frame.
    return _new(Frame, (code, data[1], data[4:20], data, tuple(attrs), ma_offset, proxy_states))


_new = tuple.__new__


def _check_access_request(once: list[int]) -> None:
    """Whole-packet rules for Access-Request (checklist PKT-8), given the
    request's attributes of the types in ``_ONCE``, in order."""
    if sum(1 for t in _CREDENTIALS if t in once) > 1:
        raise Malformed("conflicting_credentials")  # RFC 2865 §4.1, RFC 2869 §5.19
    if once.count(STATE) > 1:
        raise Malformed("multiple_state")  # RFC 2865 §5.44 (0-1 in a request)
    if any(once.count(t) > 1 for t in set(once) if t != EAP_MESSAGE):
        # Two User-Names could let the password and the code be checked for
        # different users by different hops (RFC 2865 §5.44: 0-1 each).
        raise Malformed("duplicate_attribute")


_CREDENTIALS = (USER_PASSWORD, CHAP_PASSWORD, EAP_MESSAGE, ARAP_PASSWORD)
_CREDENTIAL_SET = frozenset(_CREDENTIALS)
_ONCE = frozenset((USER_NAME, USER_PASSWORD, CHAP_PASSWORD, ARAP_PASSWORD, EAP_MESSAGE, STATE))
_WATCHED = _ONCE | {MESSAGE_AUTHENTICATOR, PROXY_STATE}
# Every order of two or three distinct types of _ONCE holding at most one
# credential: what _check_access_request accepts without looking (PKT-8).
_PLAIN_ONCE = frozenset(
    order
    for n in (2, 3)
    for order in permutations(sorted(_ONCE), n)
    if len(_CREDENTIAL_SET.intersection(order)) <= 1
)
# The attribute starting at or after this offset may be the 201st (each takes 2+ octets).
_COUNT_FROM = HEADER_LEN + 2 * MAX_ATTRIBUTES


def encode_attrs(attrs: Sequence[Attr]) -> bytes:
    """Attributes to wire bytes. Zero-length values are not sent (PKT-11)."""
    out = bytearray()
    for t, v in attrs:
        n = len(v)
        if n == 0:
            continue
        if n > 253:
            raise ValueError(f"attribute {t} value too long ({n} octets)")
        out.append(t)
        out.append(n + 2)
        out += v
    return bytes(out)

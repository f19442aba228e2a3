"""Attribute-level helpers on raw (type, value) lists.

Salt-encrypted attributes are held in plaintext inside radmfa and only
encrypted on the wire, keyed to the packet they travel in (RFC 2548 §2.4,
RFC 2868 §3.5). ``reveal`` decrypts what an upstream sent; ``conceal``
encrypts for the NAS with its own secret and Request Authenticator (PW-6).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from radmfa.radius import crypto
from radmfa.radius.wire import (
    MESSAGE_AUTHENTICATOR,
    PROXY_STATE,
    REPLY_MESSAGE,
    STATE,
    TUNNEL_PASSWORD,
    VENDOR_SPECIFIC,
    Attr,
)

MICROSOFT = 311
_MS_SALTED = frozenset((16, 17))  # MS-MPPE-Send-Key, MS-MPPE-Recv-Key (RFC 2548 §2.4.2-3)
_MS_PREFIX = MICROSOFT.to_bytes(4, "big")
MAX_VALUE = 253

# Never copied from an upstream reply into ours: they belong to the upstream's
# own exchange with us (its State, RFC 2865 §5.24; Proxy-State, §5.33;
# Message-Authenticator, RFC 3579 §3.2, keyed to that packet).
HOP_BY_HOP = frozenset((STATE, PROXY_STATE, MESSAGE_AUTHENTICATOR))


def split_text(attr_type: int, text: bytes) -> list[Attr]:
    """Split text over as many attributes as needed, in order (CHAL-4)."""
    return [(attr_type, text[i : i + MAX_VALUE]) for i in range(0, len(text), MAX_VALUE)]


def reply_messages(text: str) -> list[Attr]:
    return split_text(REPLY_MESSAGE, text.encode("utf-8"))


def _map_ms_subattrs(value: bytes, fn: Callable[[int, bytes], bytes]) -> bytes:
    """Apply fn(subtype, data) to each Microsoft sub-attribute of a VSA value."""
    out = bytearray(value[:4])
    pos = 4
    while pos + 2 <= len(value):
        sub, sub_len = value[pos], value[pos + 1]
        if sub_len < 2 or pos + sub_len > len(value):
            raise ValueError("malformed Microsoft VSA")
        data = value[pos + 2 : pos + sub_len]
        if sub in _MS_SALTED:
            data = fn(sub, data)
        out += bytes((sub, len(data) + 2)) + data
        pos += sub_len
    if pos != len(value):
        raise ValueError("malformed Microsoft VSA")
    return bytes(out)


def _is_ms_vsa(t: int, v: bytes) -> bool:
    return t == VENDOR_SPECIFIC and v[:4] == _MS_PREFIX


def reveal(attrs: Iterable[Attr], secret: bytes, request_auth: bytes) -> list[Attr]:
    """Decrypt salt-encrypted values received from a server.

    Tunnel-Password plaintext form is tag octet + password.
    Raises ValueError for a malformed encrypted value.
    """
    out: list[Attr] = []
    for t, v in attrs:
        if t == TUNNEL_PASSWORD and len(v) >= 3:
            v = v[:1] + crypto.salt_decrypt(v[1:], secret, request_auth)
        elif _is_ms_vsa(t, v):
            v = _map_ms_subattrs(v, lambda _s, d: crypto.salt_decrypt(d, secret, request_auth))
        out.append((t, v))
    return out


def conceal(attrs: Iterable[Attr], secret: bytes, request_auth: bytes) -> list[Attr]:
    """Encrypt plaintext salt-encrypted values for the packet being sent."""
    used: set[bytes] = set()

    def enc(_s: int, d: bytes) -> bytes:
        return crypto.salt_encrypt(d, secret, request_auth, crypto.new_salt(used))

    out: list[Attr] = []
    for t, v in attrs:
        if t == TUNNEL_PASSWORD and len(v) >= 1:
            v = v[:1] + enc(0, v[1:])
        elif _is_ms_vsa(t, v):
            v = _map_ms_subattrs(v, enc)
        out.append((t, v))
    return out


def needs_concealing(attrs: Iterable[Attr]) -> bool:
    # Every reply passes here: no function call per attribute.
    return any(t == TUNNEL_PASSWORD or (t == VENDOR_SPECIFIC and v[:4] == _MS_PREFIX) for t, v in attrs)

"""Authenticators, Message-Authenticator and hidden-attribute coding.

Our own small code, checked against RFC vectors, because pyrad has known
faults on this trust boundary (checklist §15). Comparisons are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import struct

from radmfa.radius.wire import HEADER_LEN, MA_LEN, MAX_LEN, MESSAGE_AUTHENTICATOR

_ZERO16 = bytes(16)
_MA_HEADER = bytes((MESSAGE_AUTHENTICATOR, MA_LEN))
_md5 = hashlib.md5


def new_authenticator() -> bytes:
    """Unpredictable, unique Request Authenticator (RFC 2865 §3, AUTH-5)."""
    return secrets.token_bytes(16)


def _hmac_md5(secret: bytes, data: bytes) -> bytes:
    return hmac.digest(secret, data, "md5")  # the one-shot C path


def verify_request_ma(data: bytes, ma_offset: int, secret: bytes) -> bool:
    """RFC 2869 §5.14 / RFC 3579 §3.2: HMAC-MD5 over the request with MA zeroed."""
    received = data[ma_offset : ma_offset + 16]
    zeroed = data[:ma_offset] + _ZERO16 + data[ma_offset + 16 :]
    return hmac.compare_digest(received, _hmac_md5(secret, zeroed))


def verify_response(data: bytes, request_auth: bytes, secret: bytes, ma_offset: int) -> bool:
    """Check a response's Response Authenticator and, if present, its MA.

    Both are keyed to the Request Authenticator of the request it answers
    (RFC 2865 §3, RFC 3579 §3.2).
    """
    expected = _md5(data[:4] + request_auth + data[HEADER_LEN:] + secret).digest()
    if not hmac.compare_digest(expected, data[4:20]):
        return False
    if ma_offset < 0:
        return True
    received = data[ma_offset : ma_offset + 16]
    zeroed = data[:4] + request_auth + data[HEADER_LEN:ma_offset] + _ZERO16 + data[ma_offset + 16 :]
    return hmac.compare_digest(received, _hmac_md5(secret, zeroed))


def sign_response(code: int, ident: int, request_auth: bytes, attrs: bytes, secret: bytes) -> bytes:
    """Build a response with Message-Authenticator as the FIRST attribute.

    BlastRADIUS mitigation (checklist BLAST-1): MA is computed first, then the
    Response Authenticator over the packet holding the final MA (RFC 3579 §3.2).
    """
    length = HEADER_LEN + MA_LEN + len(attrs)
    if length > MAX_LEN:
        raise ValueError(f"response would be {length} octets, above the RADIUS maximum")
    head = struct.pack("!BBH", code, ident, length)
    ma = _hmac_md5(secret, head + request_auth + _MA_HEADER + _ZERO16 + attrs)
    body = _MA_HEADER + ma + attrs
    resp_auth = _md5(head + request_auth + body + secret).digest()
    return head + resp_auth + body


def sign_request(code: int, ident: int, request_auth: bytes, attrs: bytes, secret: bytes) -> bytes:
    """Build an Access-Request/Status-Server with Message-Authenticator first."""
    length = HEADER_LEN + MA_LEN + len(attrs)
    if length > MAX_LEN:
        raise ValueError(f"request would be {length} octets, above the RADIUS maximum")
    head = struct.pack("!BBH", code, ident, length)
    ma = _hmac_md5(secret, head + request_auth + _MA_HEADER + _ZERO16 + attrs)
    return head + request_auth + _MA_HEADER + ma + attrs


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(16, "big")


def _chain_encrypt(data: bytes, secret: bytes, seed: bytes) -> bytes:
    """c(i) = p(i) xor MD5(S + c(i-1)), c(0) chained from ``seed`` (RFC 2865 §5.2)."""
    out = bytearray()
    prev = seed
    for i in range(0, len(data), 16):
        prev = _xor(data[i : i + 16], _md5(secret + prev).digest())
        out += prev
    return bytes(out)


def _chain_decrypt(data: bytes, secret: bytes, seed: bytes) -> bytes:
    out = bytearray()
    prev = seed
    for i in range(0, len(data), 16):
        block = data[i : i + 16]
        out += _xor(block, _md5(secret + prev).digest())
        prev = block
    return bytes(out)


def hide_password(password: bytes, secret: bytes, request_auth: bytes) -> bytes:
    """RFC 2865 §5.2. An empty password is one block of NULs (PW-4)."""
    if len(password) > 128:
        raise ValueError("User-Password longer than 128 octets")
    padded = password + bytes(16 if not password else -len(password) % 16)
    return _chain_encrypt(padded, secret, request_auth)


def unhide_password(value: bytes, secret: bytes, request_auth: bytes) -> bytes:
    """Inverse of hide_password; raises ValueError on an illegal length (PW-1).

    Only trailing NUL padding is stripped; bytes are never decoded (PW-2).
    """
    n = len(value)
    if n < 16 or n > 128 or n % 16:
        raise ValueError("User-Password length is not a multiple of 16 in 16..128")
    return _chain_decrypt(value, secret, request_auth).rstrip(b"\x00")


def new_salt(used: set[bytes]) -> bytes:
    """Two-octet salt with the MSB set, unique within one packet (RFC 2548 §2.4.2)."""
    while True:
        salt = bytes((secrets.randbits(8) | 0x80, secrets.randbits(8)))
        if salt not in used:
            used.add(salt)
            return salt


def salt_encrypt(plain: bytes, secret: bytes, request_auth: bytes, salt: bytes) -> bytes:
    """RFC 2548 §2.4.2 / RFC 2868 §3.5: salt + encrypted(len || plain || pad)."""
    data = bytes((len(plain),)) + plain
    data += bytes(-len(data) % 16)
    return salt + _chain_encrypt(data, secret, request_auth + salt)


def salt_decrypt(value: bytes, secret: bytes, request_auth: bytes) -> bytes:
    """Inverse of salt_encrypt; ValueError on malformed input (never IndexError)."""
    if len(value) < 18 or (len(value) - 2) % 16:
        raise ValueError("salt-encrypted value has an illegal length")
    salt = value[:2]
    out = _chain_decrypt(value[2:], secret, request_auth + salt)
    size = out[0]
    if size > len(out) - 1:
        raise ValueError("salt-encrypted value has an illegal inner length")
    return out[1 : 1 + size]

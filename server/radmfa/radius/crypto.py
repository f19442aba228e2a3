"""Authenticators, Message-Authenticator and hidden-attribute coding.

Our own small code, checked against RFC vectors, because pyrad has known
faults on this trust boundary (checklist §15). Comparisons are constant-time.

Every proxied request costs four HMAC-MD5s and about as many MD5s, so the
primitives are chosen by cost: CPython's built-in MD5, without OpenSSL's
per-call EVP set-up, is about half the instructions of ``hashlib.md5`` on a
RADIUS-sized packet; HMAC-MD5 (RFC 2104) from the secret's two padded-key
states, made once per secret and copied per call, is about a quarter of
``hmac.digest``.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import os
import secrets
import struct
from collections.abc import Callable
from typing import Protocol, cast

from radmfa.radius.wire import HEADER_LEN, MA_LEN, MAX_LEN, MESSAGE_AUTHENTICATOR


class _Digest(Protocol):
    def copy(self) -> _Digest: ...
    def update(self, data: bytes, /) -> None: ...
    def digest(self) -> bytes: ...


def _builtin_md5() -> Callable[[bytes], _Digest]:
    try:  # absent only from builds configured without the built-in hashes
        return cast("Callable[[bytes], _Digest]", importlib.import_module("_md5").md5)
    except ImportError:
        return hashlib.md5


_md5 = _builtin_md5()
_ZERO16 = bytes(16)
_MA_HEADER = bytes((MESSAGE_AUTHENTICATOR, MA_LEN))
_MA_ZEROED = _MA_HEADER + _ZERO16
_BLOCK = 64  # MD5's block size, for HMAC's padded keys (RFC 2104 §2)
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))
_pack_head = struct.Struct("!BBH").pack  # Code, Identifier, Length
_MAX_KEYS = 4096  # one per NAS and upstream secret; a bound, not a tuning knob
_keys: dict[bytes, tuple[_Digest, _Digest, _Digest]] = {}


def _keyed(secret: bytes) -> tuple[_Digest, _Digest, _Digest]:
    """The MD5 states after HMAC's inner and outer padded keys, and after
    the secret itself (the start of every password-hiding block). Callers
    look in ``_keys`` first: this runs once per secret."""
    key = _md5(secret).digest() if len(secret) > _BLOCK else secret
    key = key.ljust(_BLOCK, b"\x00")
    if len(_keys) >= _MAX_KEYS:
        _keys.clear()
    states = _keys[secret] = (_md5(key.translate(_IPAD)), _md5(key.translate(_OPAD)), _md5(secret))
    return states


_compare = hmac.compare_digest  # constant-time


def new_authenticator() -> bytes:
    """Unpredictable, unique Request Authenticator (RFC 2865 §3, AUTH-5);
    os.urandom is what secrets.token_bytes returns, without its call."""
    return os.urandom(16)


def _hmac_md5(secret: bytes, data: bytes) -> bytes:
    inner, outer, _ = _keys.get(secret) or _keyed(secret)
    h = inner.copy()
    h.update(data)
    o = outer.copy()
    o.update(h.digest())
    return o.digest()


def verify_request_ma(data: bytes, ma_offset: int, secret: bytes) -> bool:
    """RFC 2869 §5.14 / RFC 3579 §3.2: HMAC-MD5 over the request with MA zeroed.

    This and the three functions after it compute HMAC-MD5 inline, as
    ``_hmac_md5`` does, without its call:
    every request verifies, signs or checks one each."""
    inner, outer, _ = _keys.get(secret) or _keyed(secret)
    h = inner.copy()
    h.update(data[:ma_offset] + _ZERO16 + data[ma_offset + 16 :])
    o = outer.copy()
    o.update(h.digest())
    return _compare(data[ma_offset : ma_offset + 16], o.digest())


def verify_response(data: bytes, request_auth: bytes, secret: bytes, ma_offset: int) -> bool:
    """Check a response's Response Authenticator and, if present, its MA.

    Both are keyed to the Request Authenticator of the request it answers
    (RFC 2865 §3, RFC 3579 §3.2).
    """
    head = data[:4]
    expected = _md5(head + request_auth + data[HEADER_LEN:] + secret).digest()
    if not _compare(expected, data[4:HEADER_LEN]):
        return False
    if ma_offset < 0:
        return True
    inner, outer, _ = _keys.get(secret) or _keyed(secret)
    h = inner.copy()
    h.update(head + request_auth + data[HEADER_LEN:ma_offset] + _ZERO16 + data[ma_offset + 16 :])
    o = outer.copy()
    o.update(h.digest())
    return _compare(data[ma_offset : ma_offset + 16], o.digest())


def sign_response(code: int, ident: int, request_auth: bytes, attrs: bytes, secret: bytes) -> bytes:
    """Build a response with Message-Authenticator as the FIRST attribute.

    BlastRADIUS mitigation (checklist BLAST-1): MA is computed first, then the
    Response Authenticator over the packet holding the final MA (RFC 3579 §3.2).
    """
    length = HEADER_LEN + MA_LEN + len(attrs)
    if length > MAX_LEN:
        raise ValueError(f"response would be {length} octets, above the RADIUS maximum")
    head = _pack_head(code, ident, length)
    inner, outer, _ = _keys.get(secret) or _keyed(secret)
    h = inner.copy()
    h.update(head + request_auth + _MA_ZEROED + attrs)
    o = outer.copy()
    o.update(h.digest())
    body = _MA_HEADER + o.digest() + attrs
    return head + _md5(head + request_auth + body + secret).digest() + body


def sign_request(code: int, ident: int, request_auth: bytes, attrs: bytes, secret: bytes) -> bytes:
    """Build an Access-Request/Status-Server with Message-Authenticator first."""
    length = HEADER_LEN + MA_LEN + len(attrs)
    if length > MAX_LEN:
        raise ValueError(f"request would be {length} octets, above the RADIUS maximum")
    head = _pack_head(code, ident, length) + request_auth
    inner, outer, _ = _keys.get(secret) or _keyed(secret)
    h = inner.copy()
    h.update(head + _MA_ZEROED + attrs)
    o = outer.copy()
    o.update(h.digest())
    return head + _MA_HEADER + o.digest() + attrs


_int = int.from_bytes  # big-endian by default: naming the order costs as much as the xor


def _chain_encrypt(data: bytes, secret: bytes, seed: bytes) -> bytes:
    """c(i) = p(i) xor MD5(S + c(i-1)), c(0) chained from ``seed`` (RFC 2865 §5.2).
    MD5(S + x) continues the state after S rather than hashing S again."""
    start = (_keys.get(secret) or _keyed(secret))[2]
    h = start.copy()
    h.update(seed)
    if len(data) == 16:  # most passwords: one block, no loop
        return (_int(data) ^ _int(h.digest())).to_bytes(16)
    blocks: list[bytes] = []
    for i in range(0, len(data), 16):
        if i:
            h = start.copy()
            h.update(blocks[-1])
        blocks.append((_int(data[i : i + 16]) ^ _int(h.digest())).to_bytes(16))
    return b"".join(blocks)


def _chain_decrypt(data: bytes, secret: bytes, seed: bytes) -> bytes:
    """p(i) = c(i) xor MD5(S + c(i-1)): every key block comes from the
    ciphertext, so the whole value is xored at once."""
    start = (_keys.get(secret) or _keyed(secret))[2]
    h = start.copy()
    h.update(seed)
    if len(data) == 16:  # most passwords: one block, no loop
        return (_int(data) ^ _int(h.digest())).to_bytes(16)
    stream = [h.digest()]
    for i in range(16, len(data), 16):
        h = start.copy()
        h.update(data[i - 16 : i])
        stream.append(h.digest())
    return (_int(data) ^ _int(b"".join(stream))).to_bytes(len(data))


def hide_password(password: bytes, secret: bytes, request_auth: bytes) -> bytes:
    """RFC 2865 §5.2. An empty password is one block of NULs (PW-4)."""
    n = len(password)
    if n <= 16:  # most passwords: one block, _chain_encrypt's first step inline
        h = (_keys.get(secret) or _keyed(secret))[2].copy()
        h.update(request_auth)
        return (_int(password.ljust(16, b"\x00")) ^ _int(h.digest())).to_bytes(16)
    if n > 128:
        raise ValueError("User-Password longer than 128 octets")
    return _chain_encrypt(password.ljust((n + 15) & ~15, b"\x00"), secret, request_auth)


def unhide_password(value: bytes, secret: bytes, request_auth: bytes) -> bytes:
    """Inverse of hide_password; raises ValueError on an illegal length (PW-1).

    Only trailing NUL padding is stripped; bytes are never decoded (PW-2).
    """
    n = len(value)
    if n == 16:  # most passwords: one block, _chain_decrypt's first step inline
        h = (_keys.get(secret) or _keyed(secret))[2].copy()
        h.update(request_auth)
        return (_int(value) ^ _int(h.digest())).to_bytes(16).rstrip(b"\x00")
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

"""The cached-key HMAC-MD5 and chained hiding agree with the stdlib's
one-shot functions for every secret length, a key longer than MD5's block
included (RFC 2104 §2 hashes it first)."""

from __future__ import annotations

import hashlib
import hmac
import random

import pytest

from radmfa.radius import crypto

rng = random.Random(2865)


@pytest.mark.parametrize("secret_len", [1, 6, 16, 63, 64, 65, 128, 300])
def test_hmac_md5_matches_the_stdlib(secret_len: int) -> None:
    secret = rng.randbytes(secret_len)
    for size in (0, 1, 20, 64, 100, 4096):
        data = rng.randbytes(size)
        assert crypto._hmac_md5(secret, data) == hmac.digest(secret, data, "md5")
        assert crypto._hmac_md5(secret, data) == hmac.digest(secret, data, "md5")  # from the cached states


def _reference_chain(data: bytes, secret: bytes, seed: bytes) -> bytes:
    out, prev = b"", seed
    for i in range(0, len(data), 16):
        key = hashlib.md5(secret + prev).digest()  # noqa: S324 - RADIUS hides with MD5 (RFC 2865 §5.2)
        prev = bytes(a ^ b for a, b in zip(data[i : i + 16], key, strict=True))
        out += prev
    return out


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 100, 128])
def test_password_hiding_matches_rfc2865_5_2(size: int) -> None:
    secret, auth = rng.randbytes(11), rng.randbytes(16)
    password = bytes(rng.randrange(1, 256) for _ in range(size))
    hidden = crypto.hide_password(password, secret, auth)
    padded = password + bytes(16 if not password else -len(password) % 16)
    assert hidden == _reference_chain(padded, secret, auth)
    assert crypto.unhide_password(hidden, secret, auth) == password


def test_salted_values_round_trip() -> None:
    secret, auth, salt = b"s3cret", rng.randbytes(16), b"\x81\x02"
    for size in (0, 1, 15, 16, 32, 200):
        plain = rng.randbytes(size)
        value = crypto.salt_encrypt(plain, secret, auth, salt)
        assert value[2:] == _reference_chain(bytes((size,)) + plain + bytes(-(size + 1) % 16), secret, auth + salt)
        assert crypto.salt_decrypt(value, secret, auth) == plain


def _reference_ma(packet: bytes, ma_offset: int, secret: bytes, auth: bytes | None = None) -> bytes:
    """RFC 3579 §3.2: HMAC-MD5 over the packet with the MA zeroed (a response
    with the Request Authenticator in its place)."""
    zeroed = packet[:ma_offset] + bytes(16) + packet[ma_offset + 16 :]
    if auth is not None:
        zeroed = zeroed[:4] + auth + zeroed[20:]
    return hmac.digest(secret, zeroed, "md5")


@pytest.mark.parametrize("secret_len", [1, 11, 64, 65, 300])
def test_signing_and_checking_agree_with_the_stdlib(secret_len: int) -> None:
    secret, auth = rng.randbytes(secret_len), rng.randbytes(16)
    for size in (0, 3, 40, 300):
        attrs = b"".join(b"\x1a" + bytes((2 + n,)) + rng.randbytes(n) for n in [min(size, 200)] if size)
        request = crypto.sign_request(1, 7, auth, attrs, secret)
        assert request[22:38] == _reference_ma(request, 22, secret)
        assert crypto.verify_request_ma(request, 22, secret)
        forged = request[:40] + bytes((request[40] ^ 1,)) + request[41:] if attrs else request[:22] + bytes(16)
        assert not crypto.verify_request_ma(forged, 22, secret)
        response = crypto.sign_response(2, 7, auth, attrs, secret)
        assert response[22:38] == _reference_ma(response, 22, secret, auth)
        expected = hashlib.md5(response[:4] + auth + response[20:] + secret).digest()  # noqa: S324 - RFC 2865 §3
        assert response[4:20] == expected
        assert crypto.verify_response(response, auth, secret, 22)
        assert not crypto.verify_response(response, bytes(16), secret, 22)
        assert not crypto.verify_response(response[:22] + bytes(16) + response[38:], auth, secret, 22)

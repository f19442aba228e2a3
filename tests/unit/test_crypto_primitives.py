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

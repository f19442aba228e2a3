"""RFC 6238 Appendix B vectors, and our hot-path HOTP against pyotp."""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime

import pyotp
import pytest

from radmfa.core.model import Token
from radmfa.factors.totp import hotp, matching_step, provisioning_uri

SEEDS = {
    "sha1": b"12345678901234567890",
    "sha256": b"12345678901234567890123456789012",
    "sha512": b"1234567890123456789012345678901234567890123456789012345678901234",
}
# RFC 6238 Appendix B: (time, {algorithm: 8-digit code})
VECTORS = [
    (59, {"sha1": "94287082", "sha256": "46119246", "sha512": "90693936"}),
    (1111111109, {"sha1": "07081804", "sha256": "68084774", "sha512": "25091201"}),
    (1111111111, {"sha1": "14050471", "sha256": "67062674", "sha512": "99943326"}),
    (1234567890, {"sha1": "89005924", "sha256": "91819424", "sha512": "93441116"}),
    (2000000000, {"sha1": "69279037", "sha256": "90698825", "sha512": "38618901"}),
    (20000000000, {"sha1": "65353130", "sha256": "77737706", "sha512": "47863826"}),
]


@pytest.mark.parametrize(("when", "codes"), VECTORS)
@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha512"])
def test_rfc6238_vectors(when, codes, algorithm):
    code = codes[algorithm].encode()
    assert hotp(SEEDS[algorithm], when // 30, digits=8, algorithm=algorithm) == code
    token = Token(1, "u", "totp", SEEDS[algorithm], digits=8, algorithm=algorithm)
    step = matching_step(token, code, now=datetime.fromtimestamp(when, UTC), window=0)
    assert step == when // 30


def test_rfc4226_appendix_d():
    expected = [
        b"755224",
        b"287082",
        b"359152",
        b"969429",
        b"338314",
        b"254676",
        b"287922",
        b"162583",
        b"399871",
        b"520489",
    ]
    assert [hotp(b"12345678901234567890", i) for i in range(10)] == expected


def test_matches_pyotp_for_random_seeds_and_window():
    for _ in range(50):
        seed = secrets.token_bytes(20)
        ref = pyotp.TOTP(base64.b32encode(seed).decode())
        now = datetime.fromtimestamp(1_700_000_000 + secrets.randbelow(10**8), UTC)
        token = Token(1, "u", "totp", seed)
        for offset in (-1, 0, 1):
            code = ref.at(now.timestamp() + 30 * offset).encode()
            assert matching_step(token, code, now=now, window=1) == int(now.timestamp()) // 30 + offset
        far = ref.at(now.timestamp() + 90).encode()
        if far not in {ref.at(now.timestamp() + 30 * o).encode() for o in (-1, 0, 1)}:
            assert matching_step(token, far, now=now, window=1) is None


def test_shape_checks_and_uri():
    token = Token(1, "alice", "totp", b"\x01" * 20)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert matching_step(token, b"12345", now=now, window=1) is None
    assert matching_step(token, b"12a456", now=now, window=1) is None
    uri = provisioning_uri(token, issuer="radmfa")
    assert uri.startswith("otpauth://totp/radmfa:alice?secret=") and "issuer=radmfa" in uri


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha512"])
@pytest.mark.parametrize("digits", [6, 7, 8])
def test_codes_match_pyotp_for_every_length_and_digest(algorithm, digits):
    import hashlib

    seed = secrets.token_bytes(20)
    reference = pyotp.HOTP(base64.b32encode(seed).decode(), digits=digits, digest=getattr(hashlib, algorithm))
    for counter in (0, 1, 59, 10**6, 2**40):
        assert hotp(seed, counter, digits=digits, algorithm=algorithm) == reference.at(counter).encode()


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha512"])
@pytest.mark.parametrize("length", [1, 20, 64, 65, 128, 129, 200])
def test_a_windows_codes_are_one_shot_hmacs_for_any_key_length(algorithm, length):
    from radmfa.factors.totp import codes

    seed = secrets.token_bytes(length)
    counters = range(2**33 - 3, 2**33 + 4)
    assert codes(seed, counters, digits=8, algorithm=algorithm) == [
        hotp(seed, c, digits=8, algorithm=algorithm) for c in counters
    ]


def _whole_window(token: Token, code: bytes, now: datetime, window: int) -> int | None:
    """Every step of the window computed and compared, the latest match kept."""
    current = int(now.timestamp()) // token.period
    found = None
    for step in range(current - window, current + window + 1):
        if hotp(token.secret, step, digits=token.digits, algorithm=token.algorithm) == code:
            found = step
    return found


@pytest.mark.parametrize("window", [0, 1, 2])
def test_the_step_found_is_the_whole_windows_for_every_offset(window):
    token = Token(1, "u", "totp", secrets.token_bytes(20))
    now = datetime.fromtimestamp(1_700_000_015, UTC)
    current = int(now.timestamp()) // 30
    for offset in range(-window - 2, window + 3):
        code = hotp(token.secret, current + offset)
        assert matching_step(token, code, now=now, window=window) == _whole_window(token, code, now, window)
    assert matching_step(token, b"12345", now=now, window=window) is None  # wrong length


@pytest.mark.parametrize(
    ("shared", "expected"),
    [((-1, 0), 0), ((0, 1), 1), ((-1, 1), 1), ((-1,), -1), ((0,), 0), ((1,), 1), ((), None)],
)
def test_a_code_two_steps_share_consumes_the_later_one(monkeypatch, shared, expected):
    # Codes of the window made up so that ``code`` is the code of the steps in
    # ``shared`` (relative to the current one) and of no other.
    import radmfa.factors.totp as totp_mod

    now = datetime.fromtimestamp(1_700_000_015, UTC)
    current = int(now.timestamp()) // 30
    asked: list[int] = []

    def made_up(secret, counters, *, digits, algorithm):
        asked.extend(counters)
        return [b"123456" if c - current in shared else b"%06d" % (c % 10**6) for c in counters]

    monkeypatch.setattr(totp_mod, "codes", made_up)
    token = Token(1, "u", "totp", bytes(20))
    step = matching_step(token, b"123456", now=now, window=1)
    assert step == (None if expected is None else current + expected)
    # the earlier step is computed only when neither the current nor the later one matched
    assert (current - 1 in asked) == (expected is None or expected == -1)

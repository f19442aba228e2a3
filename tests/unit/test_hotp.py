"""HOTP (RFC 4226): Appendix D vectors, look-ahead, resync, and the composite OTP factor on a real store."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from radmfa.core.admin_model import HardwareToken
from radmfa.core.model import NewToken, NewUser, Token
from radmfa.factors import build_factors
from radmfa.factors.hotp import matching_counter, resync_counter
from radmfa.factors.totp import hotp
from radmfa.store import open_store

SECRET = b"12345678901234567890"
# RFC 4226 Appendix D: HOTP values for counters 0..9
CODES = [b"755224", b"287082", b"359152", b"969429", b"338314", b"254676", b"287922", b"162583", b"399871", b"520489"]
NOW = datetime(2030, 1, 1, tzinfo=UTC)


def token(last_step: int | None = None) -> Token:
    return Token(1, "u", "hotp", SECRET, last_step=last_step)


def test_rfc4226_vectors():
    assert [hotp(SECRET, c) for c in range(10)] == CODES


@pytest.mark.parametrize(
    ("last_step", "code", "window", "expected"),
    [
        (None, CODES[0], 10, 0),
        (None, CODES[9], 10, 9),  # 10 presses ahead is the edge of the window
        (None, CODES[9], 9, None),
        (3, CODES[3], 10, None),  # used already: never again
        (3, CODES[4], 10, 4),
        (3, b"12345", 10, None),
        (3, b"abcdef", 10, None),
    ],
)
def test_look_ahead(last_step, code, window, expected):
    assert matching_counter(token(last_step), code, window=window) == expected


def test_resync_needs_two_consecutive_codes():
    far = [hotp(SECRET, c) for c in (500, 501, 502)]
    assert resync_counter(token(), far[0], far[1]) == 501
    assert resync_counter(token(), far[0], far[2]) is None  # not consecutive
    assert resync_counter(token(), far[1], far[0]) is None  # wrong order
    assert resync_counter(token(600), far[0], far[1]) is None  # behind the counter
    beyond = [hotp(SECRET, c) for c in (1001, 1002)]
    assert resync_counter(token(), *beyond) is None  # outside the 1000 window


async def _otp_store(tmp_path: Path):
    store = await open_store("sqlite:///radmfa.db", key_file=tmp_path / "k", base_dir=tmp_path)
    await store.add_user(NewUser("alice"))
    await store.import_hardware_tokens([HardwareToken("HW1", "hotp", SECRET, counter=2)])
    await store.assign_hardware_token("HW1", "alice")
    await store.add_token("alice", NewToken("totp", b"t" * 20))
    return store


def test_otp_factor_checks_hotp_and_totp_tokens_and_moves_the_counter(tmp_path):
    async def run() -> list[str]:
        store = await _otp_store(tmp_path)
        factor = build_factors(store, window=1, prompt="code?", hotp_window=10)["otp"]
        out = []
        try:
            for code in (CODES[1], CODES[4], CODES[4], CODES[3], hotp(b"t" * 20, int(NOW.timestamp()) // 30)):
                _, tokens = await store.login_view("alice")
                check = await factor.verify(factor.usable(tokens), code, now=NOW)
                out.append(check.reason)
            _, tokens = await store.login_view("alice")
            assert [t.last_step for t in tokens if t.kind == "hotp"] == [4]
        finally:
            await store.close()
        return out

    # counter 1 was used before the import (imported counter 2); 4 skips 2 and 3,
    # which then can never be used, nor can 4 again; the TOTP app token works beside it.
    assert asyncio.run(run()) == ["wrong code", "hotp ok", "wrong code", "wrong code", "totp ok"]


def test_two_workers_one_hotp_code_one_wins(tmp_path):
    async def run() -> list[bool]:
        store = await _otp_store(tmp_path)
        other = await open_store("sqlite:///radmfa.db", key_file=tmp_path / "k", base_dir=tmp_path)
        try:
            factors = [build_factors(s, window=1, prompt="?")["otp"] for s in (store, other)]
            _, tokens = await store.login_view("alice")
            checks = await asyncio.gather(*(f.verify(f.usable(tokens), CODES[2], now=NOW) for f in factors))
            return [c.ok for c in checks]
        finally:
            await store.close()
            await other.close()

    assert sorted(asyncio.run(run())) == [False, True]


class _Steps:
    """A CodeStore that accepts every step (the kind filter is what is tested)."""

    def __init__(self) -> None:
        self.consumed: list[tuple[int, int]] = []
        self.failed: list[list[int]] = []

    async def consume_otp_step(self, token_id: int, step: int, *, success: object = None) -> bool:
        self.consumed.append((token_id, step))
        return True

    async def note_code_failure(self, token_ids: list[int], *, now: datetime) -> None:
        self.failed.append(token_ids)


async def test_each_factor_checks_only_its_own_kinds():
    hotp_token = Token(1, "u", "hotp", SECRET)  # CODES[0] is its next code
    totp_token = Token(2, "u", "totp", SECRET, fail_count=99, failed_at=NOW)  # locked
    tokens = [hotp_token, totp_token]
    store = _Steps()
    factors = build_factors(store, window=1, prompt="Code:")  # type: ignore[arg-type]
    otp, only_totp, only_hotp = factors["otp"], factors["totp"], factors["hotp"]
    assert only_totp.usable(tokens) == [totp_token] and only_hotp.usable(tokens) == [hotp_token]
    assert only_hotp.method(tokens) == "hotp" and only_totp.method(tokens) == "totp"
    assert otp.method(tokens) == "totp" and otp.method([hotp_token]) == "hotp"
    assert only_totp.match(tokens, CODES[0], now=NOW) is None  # the HOTP token is not its to check
    assert only_hotp.match(tokens, CODES[0], now=NOW) == (hotp_token, 0)
    assert otp.match(tokens, CODES[0], now=NOW) == (hotp_token, 0)
    refused = await only_totp.verify(tokens, CODES[0], now=NOW)
    assert not refused.ok and refused.reason == "too many wrong codes; token locked"  # only the locked TOTP token
    assert (await only_hotp.verify(tokens, CODES[0], now=NOW)).ok and store.consumed == [(1, 0)]
    wrong = await otp.verify(tokens, b"000000", now=NOW)
    assert not wrong.ok and store.failed == [[1]]  # the locked token takes no guess and counts none


def test_the_method_is_hotp_only_when_every_usable_token_is_hotp():
    import itertools

    factors = build_factors(_Steps(), window=1, prompt="Code:")  # type: ignore[arg-type]
    kinds = ("totp", "hotp", "sms")
    for n in range(4):
        for combo in itertools.product(kinds, repeat=n):
            tokens = [Token(i, "u", kind, SECRET) for i, kind in enumerate(combo)]
            for factor in factors.values():
                usable = {t.kind for t in tokens if t.kind in factor.kinds}
                assert factor.method(tokens) == ("hotp" if usable == {"hotp"} else "totp"), (combo, factor.kinds)


async def test_a_token_with_failures_below_the_limit_is_checked_and_one_at_it_is_not():
    store = _Steps()
    otp = build_factors(store, window=1, prompt="Code:")["otp"]  # type: ignore[arg-type]
    below = Token(1, "u", "hotp", SECRET, fail_count=otp.max_failures - 1, failed_at=NOW)
    at = Token(1, "u", "hotp", SECRET, fail_count=otp.max_failures, failed_at=NOW)
    assert otp.match([below], CODES[0], now=NOW) == (below, 0)
    assert otp.match([at], CODES[0], now=NOW) is None
    assert (await otp.verify([at], CODES[0], now=NOW)).reason == "too many wrong codes; token locked"
    assert (await otp.verify([below], CODES[0], now=NOW)).ok

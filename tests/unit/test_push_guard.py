"""The MFA-fatigue rules (core/push_guard.py) and the matched number's
derivation (factors/callbacks.py)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import pytest

from radmfa.core import push_guard
from radmfa.factors import callbacks


@pytest.mark.parametrize("right", [10, 55, 99])
def test_three_distinct_two_digit_numbers_and_the_right_one_among_them(right):
    for _ in range(200):
        numbers = push_guard.offered(right, secrets.randbelow)
        assert len(numbers) == 3 and len(set(numbers)) == 3 and right in numbers
        assert all(10 <= n <= 99 for n in numbers)


def test_the_right_number_is_not_always_in_the_same_place():
    places = {push_guard.offered(42, secrets.randbelow).index(42) for _ in range(300)}
    assert places == {0, 1, 2}


def test_decoys_that_repeat_are_drawn_again():
    draws = iter([32, 32, 32, 0, 5, 0, 0])  # 42 thrice (the right one), then 10 and 15; two shuffle draws

    numbers = push_guard.offered(42, lambda n: next(draws))
    assert sorted(numbers) == [10, 15, 42]


def test_an_action_names_its_number_and_nothing_else_is_a_number():
    assert [push_guard.action(n) for n in (10, 7, 99)] == ["n10", "n07", "n99"]
    assert push_guard.picked("n37") == 37
    for other in ("approve", "deny", "n07", "n100", "n3", "n٣٧", "37", "n37 "):
        assert push_guard.picked(other) is None, other


def test_the_matched_number_is_fixed_per_push_and_key_and_varies_between_pushes():
    key = secrets.token_bytes(32)
    assert callbacks.match_number(key, "abc") == callbacks.match_number(key, "abc")
    numbers = {callbacks.match_number(key, secrets.token_urlsafe(16)) for _ in range(400)}
    assert numbers <= set(range(10, 100)) and len(numbers) > 60
    assert len({callbacks.match_number(secrets.token_bytes(32), "abc") for _ in range(50)}) > 10


def test_what_counts_towards_the_streak():
    for reason in ("denied", "wrong number", "no answer"):
        assert push_guard.counts("push", reason)
    for reason in ("approved", "fraud", "superseded", "delivery failed", "rate-limited:user"):
        assert not push_guard.counts("push", reason)
    assert not push_guard.counts("voice", "denied")


def test_the_streak_is_reached_once_and_blocks_from_then_on():
    assert [push_guard.reached(n, 3) for n in range(1, 6)] == [False, False, True, False, False]
    assert [push_guard.blocks(n, 3) for n in range(1, 6)] == [False, False, True, True, True]
    assert not push_guard.reached(5, 0) and not push_guard.blocks(50, 0)  # 0 = off


def test_the_push_says_where_and_when():
    shown = push_guard.details("Corporate VPN", "198.51.100.7", datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert shown == {"nas": "Corporate VPN", "ip": "198.51.100.7", "time": "2030-01-02 03:04 UTC"}
    assert push_guard.details("vpn", "", datetime(2030, 1, 2, tzinfo=UTC))["ip"] == "an unknown address"

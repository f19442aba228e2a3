"""MFA-fatigue defences for push: number matching and the deny streak.

Number matching: the Access-Challenge shows a two-digit number and the push
offers three, each its own signed button; only the shown one approves, any
other denies. Somebody spamming pushes with a stolen password cannot get an
approval from a user who taps without looking, and a user who did not sign
in has no number to match.

The deny streak: ``[limits] push_deny_streak`` pushes in a row denied,
answered with a wrong number or left unanswered, within
``push_deny_window_s`` from the first of them, block the user's pushes
(texts, calls, e-mail and tokens still work) and raise one fraud report.
An approved push or an administrator (`radmfa user unblock`) clears it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

LOWEST, HIGHEST = 10, 99  # two digits, never a leading zero to misread
OFFERED = 3  # the shown number and two decoys: ntfy shows at most three buttons
_ACTION = re.compile(r"n([1-9][0-9])")

# Audit reasons.
WRONG_NUMBER = "wrong number"
STREAK_BLOCKED = "push blocked: deny streak"
# How a push session can end that counts towards the streak (OobSession.reason).
REFUSALS = frozenset({"denied", WRONG_NUMBER, "no answer"})


def right_number(digest: bytes) -> int:
    """The number to match, from a keyed digest of the push's random id
    (factors/callbacks.py): any worker can tell it again, nobody without the
    key can. 2**64 mod 90 leaves a bias below 1e-17."""
    return LOWEST + int.from_bytes(digest[:8], "big") % (HIGHEST - LOWEST + 1)


def offered(right: int, randbelow: Callable[[int], int]) -> list[int]:
    """``right`` and two distinct decoys, in random order; ``randbelow`` is
    secrets.randbelow (a CSPRNG) outside tests."""
    span = HIGHEST - LOWEST + 1
    numbers = [right]
    while len(numbers) < OFFERED:
        decoy = LOWEST + randbelow(span)
        if decoy not in numbers:
            numbers.append(decoy)
    for i in range(len(numbers) - 1, 0, -1):  # Fisher-Yates
        j = randbelow(i + 1)
        numbers[i], numbers[j] = numbers[j], numbers[i]
    return numbers


def action(number: int) -> str:
    """The callback action of a number's button (signed like approve/deny)."""
    return f"n{number:02d}"


def picked(name: str) -> int | None:
    """The number a button's action names; None for any other action."""
    found = _ACTION.fullmatch(name)
    return int(found[1]) if found else None


def counts(method: str, reason: str) -> bool:
    """Whether a push that ended with ``reason`` counts towards the streak."""
    return method == "push" and reason in REFUSALS


def reached(count: int, limit: int) -> bool:
    """True for exactly the refusal that makes the streak: one fraud report."""
    return limit > 0 and count == limit


def blocks(count: int, limit: int) -> bool:
    return limit > 0 and count >= limit


def details(nas: str, ip: str, now: datetime) -> dict[str, str]:
    """What the push shows about the sign-in: {nas}, {ip}, {time} (UTC)."""
    return {"nas": nas, "ip": ip or "an unknown address", "time": now.strftime("%Y-%m-%d %H:%M UTC")}

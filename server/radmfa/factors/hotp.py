"""HOTP (RFC 4226): counter-based codes, a look-ahead window and resync.

The counter lives in the store as the token's ``last_step`` (the highest
counter accepted); accepting a code is the same atomic compare-and-set as a
TOTP step (Store.consume_otp_step), so a code is accepted once, by one
worker, and a code below the counter is never accepted again.
"""

from __future__ import annotations

import hmac

from radmfa.core.model import Token
from radmfa.factors.totp import codes, hotp

LOOK_AHEAD = 10  # RFC 4226 §7.4: presses the server looks ahead at login
RESYNC_WINDOW = 1000  # counters `radmfa token resync` searches (RFC 4226 §7.4, two codes)


def next_counter(token: Token) -> int:
    return 0 if token.last_step is None else token.last_step + 1


def matching_counter(token: Token, code: bytes, *, window: int = LOOK_AHEAD) -> int | None:
    """The lowest counter from the next unused one to ``window`` ahead whose
    code is ``code``, or None. Every candidate is compared (constant-time
    each), so timing does not reveal which one matched."""
    if len(code) != token.digits or not code.isdigit():
        return None
    start = next_counter(token)
    counters = range(start, start + window)
    found = None
    for counter, candidate in zip(
        counters, codes(token.secret, counters, digits=token.digits, algorithm=token.algorithm), strict=True
    ):
        if hmac.compare_digest(candidate, code) and found is None:
            found = counter
    return found


def resync_counter(token: Token, code1: bytes, code2: bytes, *, window: int = RESYNC_WINDOW) -> int | None:
    """The counter of ``code2`` when ``code1``, ``code2`` are the codes of two
    consecutive counters within ``window`` of the next unused one, else None."""
    if not all(len(c) == token.digits and c.isdigit() for c in (code1, code2)):
        return None
    start = next_counter(token)
    previous = hotp(token.secret, start, digits=token.digits, algorithm=token.algorithm)
    for counter in range(start + 1, start + window + 1):
        current = hotp(token.secret, counter, digits=token.digits, algorithm=token.algorithm)
        if hmac.compare_digest(previous, code1) and hmac.compare_digest(current, code2):
            return counter
        previous = current
    return None

"""The enrolled TOTP population the load generator logs in as.

User i is ``u{i}`` with the seed ``seed_for(i)``, so the generator computes
codes without reading the store. radmfa's replay guard accepts one code per
token per 30-second step (RFC 6238 §5.2), so a shared array remembers the step
each user last logged in at, and no run uses a user twice within one step.
"""

from __future__ import annotations

import hashlib
import hmac
import multiprocessing
import time

SEED_KEY = b"radmfa-bench-seeds"  # deterministic seeds: the generator needs no store access
PASSWORD = b"bench-password"
PERIOD = 30  # NewToken's default TOTP step
IN_FLIGHT = 1 << 62  # last_step marker: a login of this user is under way
MAX_PROCESSES = 64


def seed_for(i: int) -> bytes:
    return hmac.new(SEED_KEY, b"u%d" % i, hashlib.sha1).digest()


def totp(seed: bytes, step: int) -> bytes:
    """RFC 6238 with HMAC-SHA1 and 6 digits (RFC 4226 §5.3 truncation)."""
    mac = hmac.new(seed, step.to_bytes(8, "big"), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = (int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF) % 1_000_000
    return b"%06d" % value


class Population:
    """Enrolled users and the TOTP step each last logged in at (shared memory)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.last_step = multiprocessing.RawArray("q", size)
        self.cursor = multiprocessing.RawArray("q", MAX_PROCESSES)

    def unused(self, step: int | None = None) -> int:
        """Users still free to log in during ``step`` (default: now)."""
        step = current_step() if step is None else step
        return sum(1 for s in self.last_step if s < step)


def current_step() -> int:
    return int(time.time()) // PERIOD




def ensure_users(population: Population, rate: float, run_s: float) -> float:
    """Wait for the next TOTP step if this one has too few unused users left.

    The replay guard takes one login per user per 30-second step, so a run
    must never have to reuse a user within its step. A run at ``rate``
    logins/s needs users until it ends or the step does (then all are free
    again), with a 10 % margin. Returns the seconds waited.
    """
    to_boundary = (current_step() + 1) * PERIOD - time.time()
    needed = min(population.size, int(rate * min(run_s, to_boundary) * 1.1))
    if population.unused() >= needed:
        return 0.0
    time.sleep(to_boundary + 0.05)
    return to_boundary + 0.05

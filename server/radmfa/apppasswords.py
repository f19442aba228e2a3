"""App-password hashing: argon2, always in a worker thread (argon2 is slow by
design and must never stall the event loop)."""

from __future__ import annotations

import asyncio
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# Lighter than argon2-cffi's defaults (3 passes over 64 MiB, ~150 ms here): an
# app password carries 80 random bits, so no hash speed makes guessing it
# offline feasible, while every app-password login pays one verification.
# 19 MiB, 2 passes, 1 lane is OWASP's minimum argon2id setting. The
# parameters live in each hash, so changing them later keeps old hashes valid.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


async def hash_app_password(canonical: str) -> str:
    return await asyncio.to_thread(_hasher.hash, canonical)


def _verify(password_hash: str, canonical: str) -> bool:
    try:
        return _hasher.verify(password_hash, canonical)
    except (VerificationError, InvalidHashError):
        return False


async def verify_app_password(password_hash: str, canonical: str) -> bool:
    return await asyncio.to_thread(_verify, password_hash, canonical)


_decoy: list[str] = []  # one hash of a random password, made on first use


async def verify_decoy(canonical: str) -> None:
    """Spend one verification's time on a password that has no row, so that
    how long a reject takes does not tell whether its lookup prefix exists."""
    if not _decoy:
        _decoy.append(await hash_app_password(secrets.token_hex(16)))
    await verify_app_password(_decoy[0], canonical)

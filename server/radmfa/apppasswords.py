"""App-password hashing: argon2, always in a worker thread (argon2 is slow by
design and must never stall the event loop)."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


async def hash_app_password(canonical: str) -> str:
    return await asyncio.to_thread(_hasher.hash, canonical)


def _verify(password_hash: str, canonical: str) -> bool:
    try:
        return _hasher.verify(password_hash, canonical)
    except (VerificationError, InvalidHashError):
        return False


async def verify_app_password(password_hash: str, canonical: str) -> bool:
    return await asyncio.to_thread(_verify, password_hash, canonical)

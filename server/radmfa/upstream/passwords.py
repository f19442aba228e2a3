"""Passwords radmfa checks itself, as argon2id hashes: local passwords (the
``local`` upstream) and app passwords.

argon2 is slow by design, so the async functions run it in a worker thread:
it never stalls the event loop. The parameters live in each hash, so changing
them later keeps old hashes valid.
"""

from __future__ import annotations

import asyncio
import functools
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# Local passwords: argon2-cffi's defaults (3 passes over 64 MiB, ~150 ms here);
# a person chose the password, so guessing it offline must stay expensive.
_local = PasswordHasher()

# Lighter: an app password carries 80 random bits, so no hash speed makes
# guessing it offline feasible, while every app-password login pays one
# verification. 19 MiB, 2 passes, 1 lane is OWASP's minimum argon2id setting.
_app = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def _verify(hasher: PasswordHasher, password_hash: str, password: bytes | str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# -- local passwords ------------------------------------------------------------------


def hash_password(password: str) -> str:
    """A local password's hash (blocking: the CLI calls it in a thread)."""
    return _local.hash(password)


@functools.cache
def _stand_in_hash() -> str:
    """What a password is checked against when the user has none: the same
    argon2 work, so the reply's timing does not tell who is in the store."""
    return _local.hash(secrets.token_urlsafe(32))


def _check_local(password_hash: str | None, password: bytes) -> bool:
    if password_hash is None:
        _verify(_local, _stand_in_hash(), password)
        return False
    return _verify(_local, password_hash, password)


async def check_local_password(password_hash: str | None, password: bytes) -> bool:
    """True when ``password`` matches; with no hash, the same work and False."""
    return await asyncio.to_thread(_check_local, password_hash, password)


# -- app passwords --------------------------------------------------------------------


async def hash_app_password(canonical: str) -> str:
    return await asyncio.to_thread(_app.hash, canonical)


async def verify_app_password(password_hash: str, canonical: str) -> bool:
    return await asyncio.to_thread(_verify, _app, password_hash, canonical)


_decoy: list[str] = []  # one hash of a random password, made on first use


async def verify_decoy(canonical: str) -> None:
    """Spend one verification's time on a password that has no row, so that
    how long a reject takes does not tell whether its lookup prefix exists."""
    if not _decoy:
        _decoy.append(await hash_app_password(secrets.token_hex(16)))
    await verify_app_password(_decoy[0], canonical)

"""Primary authentication against argon2 hashes in our own store.

For the demo and for standalone use without a directory. argon2 is slow by
design, so verification runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from radmfa.core import policy
from radmfa.core.model import AuthRequest, PrimaryResult
from radmfa.core.ports import UserLookup

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@functools.cache
def _stand_in_hash() -> str:
    """What a password is checked against when the user has none: the same
    argon2 work, so the reply's timing does not tell who is in the store."""
    return _hasher.hash(secrets.token_urlsafe(32))


def _verify(password_hash: str, password: bytes) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _check(password_hash: str | None, password: bytes) -> bool:
    if password_hash is None:
        _verify(_stand_in_hash(), password)
        return False
    return _verify(password_hash, password)


class LocalUpstream:
    def __init__(self, store: UserLookup) -> None:
        self.store = store

    async def authenticate(self, request: AuthRequest, password: bytes) -> PrimaryResult:
        name = policy.decode_name(request.username)
        user = await self.store.get_user(name) if name else None
        known = (user.password_hash if user is not None else None) or None
        ok = await asyncio.to_thread(_check, known, password)
        if user is None:
            # The pipeline's word for a name not in the store, on every upstream.
            return PrimaryResult(False, reason="unknown user", relayed=False)
        if not known:
            return PrimaryResult(False, reason="no local password", relayed=False)
        if ok:
            return PrimaryResult(True, reason="local password ok", server="local")
        return PrimaryResult(False, reason="wrong password", server="local", relayed=False)

    def healthy(self) -> bool:
        return True

    async def close(self) -> None:
        return None

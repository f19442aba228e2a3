"""Primary authentication against argon2 hashes in our own store.

For the demo and for standalone use without a directory. argon2 is slow by
design, so verification runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from radmfa.core import policy
from radmfa.core.model import AuthRequest, PrimaryResult
from radmfa.core.ports import Store

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _verify(password_hash: str, password: bytes) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


class LocalUpstream:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def authenticate(self, request: AuthRequest, password: bytes) -> PrimaryResult:
        name = policy.decode_name(request.username)
        user = await self.store.get_user(name) if name else None
        if user is None or not user.password_hash:
            return PrimaryResult(False, reason="no local password", relayed=False)
        if await asyncio.to_thread(_verify, user.password_hash, password):
            return PrimaryResult(True, reason="local password ok", server="local")
        return PrimaryResult(False, reason="wrong password", server="local", relayed=False)

    def healthy(self) -> bool:
        return True

    async def close(self) -> None:
        return None

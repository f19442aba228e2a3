"""Primary authentication against argon2 hashes in our own store, for the
demo and for standalone use without a directory. The check itself (budgets,
the bounded pool, rehashing) is upstream/passwords.py's."""

from __future__ import annotations

from typing import Protocol

from radmfa.core import policy
from radmfa.core.model import AuthRequest, PrimaryResult
from radmfa.core.ports import PasswordRehashStore, UserLookup
from radmfa.upstream.passwords import Passwords


class LocalPasswordStore(UserLookup, PasswordRehashStore, Protocol):
    """Users and their hashes, and where a hash made again is written."""


class LocalUpstream:
    def __init__(self, store: UserLookup, passwords: Passwords) -> None:
        self.store, self.passwords = store, passwords

    async def authenticate(self, request: AuthRequest, password: bytes) -> PrimaryResult:
        name = policy.decode_name(request.username)
        user = await self.store.get_user(name) if name else None
        known = (user.password_hash if user is not None else None) or None
        check = await self.passwords.check_local(user.name if user else (name or ""), request.client, known, password)
        if check.refused:
            return PrimaryResult(False, reason=check.refused, relayed=False)
        if user is None:
            # The pipeline's word for a name not in the store, on every upstream.
            return PrimaryResult(False, reason="unknown user", relayed=False)
        if not known:
            return PrimaryResult(False, reason="no local password", relayed=False)
        if check.ok:
            return PrimaryResult(True, reason="local password ok", server="local")
        return PrimaryResult(False, reason="wrong password", server="local", relayed=False)

    def healthy(self) -> bool:
        return True

    async def close(self) -> None:
        return None  # the Passwords are shared with the app-password check; their owner closes them

"""Primary authentication against argon2 hashes in our own store
(passwords.py), for the demo and for standalone use without a directory."""

from __future__ import annotations

from radmfa.core import policy
from radmfa.core.model import AuthRequest, PrimaryResult
from radmfa.core.ports import UserLookup
from radmfa.upstream.passwords import check_local_password


class LocalUpstream:
    def __init__(self, store: UserLookup) -> None:
        self.store = store

    async def authenticate(self, request: AuthRequest, password: bytes) -> PrimaryResult:
        name = policy.decode_name(request.username)
        user = await self.store.get_user(name) if name else None
        known = (user.password_hash if user is not None else None) or None
        ok = await check_local_password(known, password)
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

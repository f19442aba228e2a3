"""Repeated binds: the same bind again soon reuses the completed MFA.

Applications bind several times for one login (to test the password, then
to read the user's groups, then again per request): each would otherwise
push again. A bind for the same user, from the same client, with the same
password, within ``rebind_seconds`` of a bind that passed the whole
pipeline is accepted after the directory has checked the password once
more, without a second factor. Never after a wrong password: any refused
bind for that user from that client forgets the completed one.

The store keeps, per user and client, a keyed hash (HMAC-SHA256, RFC 2104)
of client, bind DN and password, under a key derived from the store's
callback key (sealed with the seed key): the database alone does not let
anyone test passwords against it, and the password itself is never kept.
Rows are purged once their window is over.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Protocol

from radmfa.core.admin_ports import RebindStore

_LABEL = b"radmfa ldap_front rebind v1"


class KeyedStore(RebindStore, Protocol):
    async def callback_key(self) -> bytes: ...


def mac(key: bytes, *, client: str, dn: str, password: bytes) -> bytes:
    """The keyed hash of one bind; lengths first, so no two binds share an input."""
    parts = (client.encode("utf-8"), dn.encode("utf-8"), password)
    message = b"".join(len(p).to_bytes(4, "big") + p for p in parts)
    return hmac.new(key, message, hashlib.sha256).digest()


class Rebinds:
    def __init__(self, store: KeyedStore, seconds: int) -> None:
        self.store = store
        self.window = timedelta(seconds=seconds)
        self._key: bytes | None = None

    async def _mac(self, client: str, dn: str, password: bytes) -> bytes:
        if self._key is None:
            self._key = hmac.new(await self.store.callback_key(), _LABEL, hashlib.sha256).digest()
        return mac(self._key, client=client, dn=dn, password=password)

    async def completed(self, user_key: str, client: str, dn: str, password: bytes, *, now: datetime) -> bool:
        """Did this very bind pass the whole pipeline within the window?"""
        if not self.window:
            return False
        found = await self.store.recent_rebind(user_key, client, since=now - self.window, now=now)
        return found is not None and hmac.compare_digest(found, await self._mac(client, dn, password))

    async def remember(self, user_key: str, client: str, dn: str, password: bytes, *, now: datetime) -> None:
        if self.window:
            await self.store.remember_rebind(user_key, client, await self._mac(client, dn, password), now=now)

    async def forget(self, user_key: str, client: str) -> None:
        if self.window:
            await self.store.forget_rebind(user_key, client)

    async def purge(self, *, now: datetime) -> int:
        return await self.store.purge_rebinds(before=now - self.window)

"""Portal sessions: a random id in an HttpOnly, SameSite=Strict cookie, the
session itself in the store (so any portal process can serve the next
request), with an idle and an absolute timeout.

A new id is made whenever a session is started (after the password) and
whenever it gains rights (after the second factor): an id someone planted
or saw before sign-in is worth nothing after it (session fixation).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import replace
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from aiohttp import web

from radmfa.core.admin_model import WebSession
from radmfa.core.admin_ports import PortalStore

TOUCH_EVERY = timedelta(seconds=30)  # seen_at is written at most this often (one write, not one per page)


def id_hash(cookie_value: str) -> bytes:
    return hashlib.sha256(cookie_value.encode()).digest()


def cookie_names(portal: str, public_url: str) -> tuple[str, str]:
    """(session cookie, pre-sign-in cookie). Behind HTTPS they get the
    __Host- prefix (Secure, Path=/, no Domain: no other host or path can
    set them) or, when the portal lives under a path, __Secure-."""
    parts = urlsplit(public_url)
    prefix = ""
    if parts.scheme == "https":
        prefix = "__Host-" if parts.path in ("", "/") else "__Secure-"
    return f"{prefix}radmfa-{portal}", f"{prefix}radmfa-{portal}-pre"


class SessionManager:
    def __init__(
        self, store: PortalStore, *, portal: str, public_url: str, idle: timedelta, absolute: timedelta
    ) -> None:
        self.store, self.portal = store, portal
        self.idle, self.absolute = idle, absolute
        self.secure = public_url.startswith("https://")
        self.path = urlsplit(public_url).path or "/"
        self.cookie, self.pre_cookie = cookie_names(portal, public_url)

    async def load(self, request: web.Request, *, now: datetime) -> WebSession | None:
        value = request.cookies.get(self.cookie, "")
        if not value or len(value) > 100:
            return None
        found = await self.store.get_web_session(id_hash(value), portal=self.portal, now=now)
        if found is None:
            return None
        if now - found.seen_at >= self.idle:
            await self.store.delete_web_session(found.id_hash)
            return None
        if now - found.seen_at >= TOUCH_EVERY:
            await self.store.touch_web_session(found.id_hash, seen_at=now)
            found = replace(found, seen_at=now)
        return found

    async def start(
        self,
        response: web.StreamResponse,
        *,
        username: str,
        stage: str,
        now: datetime,
        replaces: WebSession | None = None,
        verified_at: datetime | None = None,
        data: dict[str, str] | None = None,
    ) -> WebSession:
        """A session under a new id (the old one, if any, is deleted); the
        absolute end is kept from the session it replaces."""
        value = secrets.token_urlsafe(32)
        session = WebSession(
            id_hash=id_hash(value),
            portal=self.portal,
            csrf=secrets.token_urlsafe(32),
            created_at=replaces.created_at if replaces else now,
            seen_at=now,
            expires_at=replaces.expires_at if replaces else now + self.absolute,
            username=username,
            stage=stage,
            verified_at=verified_at,
            data=dict(data or {}),
        )
        await self.store.put_web_session(session)
        if replaces is not None:
            await self.store.delete_web_session(replaces.id_hash)
        self.set_cookie(response, self.cookie, value)
        response.del_cookie(self.pre_cookie, path=self.path)
        return session

    async def save(self, session: WebSession) -> None:
        await self.store.put_web_session(session)

    async def end(self, response: web.StreamResponse, session: WebSession | None) -> None:
        if session is not None:
            await self.store.delete_web_session(session.id_hash)
        response.del_cookie(self.cookie, path=self.path)

    def set_cookie(self, response: web.StreamResponse, name: str, value: str) -> None:
        # No Max-Age: the browser forgets it when it closes; the store's
        # timeouts end it on the server whatever the browser keeps.
        response.set_cookie(
            name, value, path=self.path, secure=self.secure, httponly=True, samesite="Strict"
        )

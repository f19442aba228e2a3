"""Signed callback URLs for push buttons and calls.

A token binds (session id, action, expiry) under the store's callback key
(HMAC-SHA256), so only radmfa can mint one and a token for "deny" cannot
approve. Single use comes from the store: a session is decided once
(UPDATE … WHERE phase = 'awaiting_approval'), so a replayed token finds
nothing to change and is answered 403.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import datetime

from radmfa.core import push_guard

# ntfy topic names are [-_A-Za-z0-9]{1,64} (anything else is refused with 400).
_NOT_IN_TOPIC = re.compile(r"[^-_A-Za-z0-9]")
SECRET_SHOWN = "…"  # noqa: S105 (a mask, not a secret); {secret} where a topic is shown or recorded (audit, fraud reports)


def _mac(key: bytes, oob_id: str, action: str, expires: int) -> str:
    digest = hmac.new(key, f"{oob_id}|{action}|{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def sign(key: bytes, oob_id: str, action: str, *, expires_at: datetime) -> str:
    expires = int(expires_at.timestamp()) + 1
    return f"{expires}.{_mac(key, oob_id, action, expires)}"


def verify(key: bytes, token: str, oob_id: str, action: str, *, now: datetime) -> bool:
    expires_text, _, mac = token.partition(".")
    # isascii: str.isdigit() is also true for "²", which int() refuses (a 500, not a 403).
    if not (expires_text.isascii() and expires_text.isdigit()) or int(expires_text) < now.timestamp():
        return False
    return hmac.compare_digest(_mac(key, oob_id, action, int(expires_text)).encode(), mac.encode())


def url(public_url: str, path: str, token: str) -> str:
    return f"{public_url}{path}?t={token}"


def code_hash(key: bytes, scope: bytes, code: str) -> bytes:
    """Only this keyed hash of a texted code is stored: a copy of the
    database without the key does not give 6-digit codes away."""
    return hmac.new(key, b"code|" + scope + b"|" + code.encode(), hashlib.sha256).digest()


def match_number(key: bytes, oob_id: str) -> int:
    """The number a push with number matching asks for: derived from the
    push's random id (128 bits from a CSPRNG) under the callback key, so
    the worker that answers the challenge and the one that takes the tap
    agree without storing it, and a copy of the database does not tell it."""
    return push_guard.right_number(hmac.new(key, b"push-number|" + oob_id.encode(), hashlib.sha256).digest())


def topic_secret(key: bytes, user_key: str) -> str:
    """The per-user part of a push topic that nobody can guess: 80 bits of
    HMAC-SHA256(callback key, user), base32. Stable, so the user subscribes
    once, and the same on every worker and node (the key is in the store)."""
    digest = hmac.new(key, b"push-topic|" + user_key.encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:10]).decode().lower()


def push_topic(template: str, user_key: str, key: bytes | None, *, ntfy: bool) -> str:
    """``template`` with ``{user}`` and ``{secret}`` filled. Without ``key``
    the secret is shown as SECRET_SHOWN (what menus, audit rows and fraud
    reports carry). For ntfy, {user} keeps only the characters ntfy allows
    (alice@corp → alice_corp); the secret keeps such names apart."""
    user = _NOT_IN_TOPIC.sub("_", user_key)[:32] if ntfy else user_key
    secret = topic_secret(key, user_key) if key is not None else SECRET_SHOWN
    return template.replace("{user}", user).replace("{secret}", secret)

"""Webhooks over delivery/http.py: a configurable HTTP request as an SMS or
push provider (``type = "webhook"``), and the fraud alert's signed JSON POST.

The alert is signed with HMAC-SHA256 (RFC 2104) when a secret is configured,
so the receiver can tell radmfa's alerts from forgeries: the header
``X-Radmfa-Signature-256: sha256=<hex>`` over the exact body bytes (the
scheme GitHub's webhooks use, which receivers know how to check).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping, Sequence
from urllib.parse import quote, quote_plus

import aiohttp

from radmfa.config import ProviderConfig
from radmfa.delivery.http import send, shown

SIGNATURE_HEADER = "X-Radmfa-Signature-256"


def signature(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


async def post_json(
    http: aiohttp.ClientSession, url: str, payload: object, *, secret: bytes = b"", timeout_s: float = 10.0
) -> None:
    """Raises DeliveryError unless the receiver answers 2xx."""
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": "radmfa"}
    if secret:
        headers[SIGNATURE_HEADER] = signature(secret, body)
    await send(http, "POST", url, where=f"webhook {shown(url)}", timeout_s=timeout_s, data=body, headers=headers)


_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _json(value: str) -> str:
    return json.dumps(value)[1:-1]


def _url(value: str) -> str:
    # Every reserved character encoded: "+1415…" must not arrive as " 1415…"
    # (a "+" in a query is a space), nor a text's "&x=" add a parameter.
    return quote(value, safe="")


def _raw(value: str) -> str:
    return value


def _fill(template: str, values: dict[str, str], escape: Callable[[str], str]) -> str:
    """``{name}`` placeholders, each value escaped for where it lands; one
    pass, so a value holding "{text}" is never filled in again."""
    return _PLACEHOLDER.sub(lambda m: escape(values[m[1]]) if m[1] in values else m[0], template)


def _body_escape(content_type: str) -> Callable[[str], str]:
    if "json" in content_type:
        return _json
    if "x-www-form-urlencoded" in content_type:
        return quote_plus
    return _raw


class WebhookSender:
    """SmsSender and PushSender as one configurable HTTP request."""

    def __init__(self, cfg: ProviderConfig, http: aiohttp.ClientSession) -> None:
        self.cfg, self.http = cfg, http

    async def _send(self, values: dict[str, str]) -> None:
        content_type = next((v for k, v in self.cfg.headers.items() if k.lower() == "content-type"), "").lower()
        body = _fill(self.cfg.body, values, _body_escape(content_type)) if self.cfg.body else None
        url = _fill(self.cfg.url, values, _url)
        await send(self.http, self.cfg.method, url, where=f"provider {self.cfg.name}", timeout_s=self.cfg.timeout_s,
                   data=body, headers=dict(self.cfg.headers))

    async def send_sms(self, to: str, text: str) -> None:
        await self._send({"to": to, "text": text})

    async def push(
        self, topic: str, *, title: str, text: str, actions: Sequence[tuple[str, str]],
        fields: Mapping[str, str] | None = None,
    ) -> None:
        if fields is None:
            fields = dict(zip(("approve_url", "deny_url", "fraud_url"), (u for _, u in actions), strict=False))
        await self._send({"to": topic, "title": title, "text": text, **fields})

"""The other providers: ntfy push, generic webhooks, SMTP e-mail, console.

Each is a thin translator to one wire format; none decides anything.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from urllib.parse import quote, quote_plus

import aiohttp
import aiosmtplib
import structlog

from radmfa.config import ProviderConfig
from radmfa.errors import DeliveryError

log = structlog.get_logger("radmfa.delivery")


async def _request(http: aiohttp.ClientSession, cfg: ProviderConfig, method: str, url: str, **kw: object) -> None:
    try:
        async with http.request(
            method, url, timeout=aiohttp.ClientTimeout(total=cfg.timeout_s), **kw  # type: ignore[arg-type]
        ) as resp:
            if resp.status >= 300:
                raise DeliveryError(f"provider {cfg.name}: answered HTTP {resp.status}")
    except (aiohttp.ClientError, TimeoutError) as e:
        raise DeliveryError(f"provider {cfg.name}: request failed: {type(e).__name__}") from None


class NtfySender:
    """PushSender: publish JSON to an ntfy server with three http actions
    (https://docs.ntfy.sh/publish/#action-buttons)."""

    def __init__(self, cfg: ProviderConfig, http: aiohttp.ClientSession) -> None:
        self.cfg, self.http = cfg, http

    async def push(self, topic: str, *, title: str, text: str, actions: Sequence[tuple[str, str]]) -> None:
        body = {
            "topic": topic,
            "title": title,
            "message": text,
            "priority": 5,
            "actions": [{"action": "http", "label": label, "url": url, "method": "POST", "clear": True}
                        for label, url in actions],
        }
        headers = {"Authorization": f"Bearer {self.cfg.auth_token}"} if self.cfg.auth_token else {}
        await _request(self.http, self.cfg, "POST", f"{self.cfg.base_url}/", json=body, headers=headers)


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
        await _request(self.http, self.cfg, self.cfg.method, url, data=body, headers=dict(self.cfg.headers))

    async def send_sms(self, to: str, text: str) -> None:
        await self._send({"to": to, "text": text})

    async def push(self, topic: str, *, title: str, text: str, actions: Sequence[tuple[str, str]]) -> None:
        urls = dict(zip(("approve_url", "deny_url", "fraud_url"), (u for _, u in actions), strict=False))
        await self._send({"to": topic, "title": title, "text": text, **urls})


class SmtpSender:
    """EmailSender over SMTP (aiosmtplib: no thread, STARTTLS optional)."""

    def __init__(self, cfg: ProviderConfig) -> None:
        self.cfg = cfg

    async def send_email(self, to: str, *, subject: str, body: str) -> None:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = self.cfg.sender, to, subject
        msg.set_content(body)
        try:
            await aiosmtplib.send(
                msg,
                hostname=self.cfg.host,
                port=self.cfg.port,
                start_tls=self.cfg.starttls,
                username=self.cfg.username or None,
                password=self.cfg.password or None,
                timeout=self.cfg.timeout_s,
            )
        except (aiosmtplib.SMTPException, OSError) as e:
            raise DeliveryError(f"provider {self.cfg.name}: SMTP failed: {type(e).__name__}") from None


class ConsoleSender:
    """Labs: logs that a text or e-mail went out, never its content; with
    ``console_show_codes = true`` also prints it on stdout (not the log)."""

    def __init__(self, cfg: ProviderConfig) -> None:
        self.cfg = cfg

    async def send_sms(self, to: str, text: str) -> None:
        log.info("console provider: text sent", provider=self.cfg.name, to=to)
        if self.cfg.show_codes:
            print(f"[console {self.cfg.name}] text to {to}: {text}", flush=True)

    async def send_email(self, to: str, *, subject: str, body: str) -> None:
        log.info("console provider: e-mail sent", provider=self.cfg.name, to=to)
        if self.cfg.show_codes:
            print(f"[console {self.cfg.name}] e-mail to {to}: {subject}\n{body}", flush=True)

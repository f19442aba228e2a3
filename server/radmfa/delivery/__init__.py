"""Sending things out of radmfa (ring 3): texts, calls, pushes and e-mails
to users (twilio.py, ntfy.py, webhook.py, smtp.py, console.py), and fraud
alerts to the security team (alerts.py over smtp.py and webhook.py). One
client per protocol: HTTP is aiohttp (http.py), SMTP is aiosmtplib (smtp.py).

``build_senders`` makes one sender per configured method; the factors only
see the core.ports Protocols.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

from radmfa.config import PhoneConfig, ProviderConfig
from radmfa.core.ports import EmailSender, PushSender, SmsSender, VoiceCaller
from radmfa.delivery.console import ConsoleSender
from radmfa.delivery.ntfy import NtfySender
from radmfa.delivery.smtp import SmtpSender
from radmfa.delivery.twilio import TwilioSender
from radmfa.delivery.webhook import WebhookSender


@dataclass
class Senders:
    sms: SmsSender | None = None
    voice: VoiceCaller | None = None
    push: PushSender | None = None
    email: EmailSender | None = None
    http: aiohttp.ClientSession | None = None

    def methods(self) -> frozenset[str]:
        return frozenset(m for m in ("sms", "voice", "push", "email") if getattr(self, m) is not None)

    async def close(self) -> None:
        if self.http is not None:
            await self.http.close()


def _make(cfg: ProviderConfig, http: aiohttp.ClientSession) -> Any:
    if cfg.type == "twilio":
        return TwilioSender(cfg, http)
    if cfg.type == "ntfy":
        return NtfySender(cfg, http)
    if cfg.type == "webhook":
        return WebhookSender(cfg, http)
    if cfg.type == "smtp":
        return SmtpSender(cfg)
    return ConsoleSender(cfg)


def build_senders(phone: PhoneConfig) -> Senders:
    out = Senders()
    made: dict[str, Any] = {}
    for method in ("sms", "voice", "push", "email"):
        cfg = phone.provider(method)
        if cfg is None:
            continue
        if out.http is None:
            out.http = aiohttp.ClientSession()
        if cfg.name not in made:
            made[cfg.name] = _make(cfg, out.http)
        setattr(out, method, made[cfg.name])
    return out

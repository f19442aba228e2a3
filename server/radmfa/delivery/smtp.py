"""The one SMTP client (aiosmtplib, in the event loop; RFC 5321, STARTTLS
RFC 3207): codes mailed by the email factor (``SmtpSender``, a provider with
``type = "smtp"``) and fraud alerts to the security team (``[smtp]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from radmfa.config import ProviderConfig, SmtpConfig
from radmfa.errors import DeliveryError


@dataclass(frozen=True, slots=True)
class Relay:
    """The mail server a message is handed to, and how."""

    host: str
    port: int
    sender: str  # the From address
    starttls: bool  # refuse to send in clear when the server does not offer it
    username: str = ""  # empty: no AUTH
    password: str = field(default="", repr=False)
    timeout_s: float = 10.0
    name: str = "[smtp]"  # what errors call it: "[smtp]" or "provider <name>"

    @classmethod
    def of_alerts(cls, cfg: SmtpConfig) -> Relay:
        return cls(cfg.host, cfg.port, cfg.sender, cfg.starttls, cfg.username, cfg.password.decode("utf-8"),
                   cfg.timeout_s)

    @classmethod
    def of_provider(cls, cfg: ProviderConfig) -> Relay:
        return cls(cfg.host, cfg.port, cfg.sender, cfg.starttls, cfg.username, cfg.password, cfg.timeout_s,
                   f"provider {cfg.name}")


def _header(text: str) -> str:
    # A User-Name comes from the network: no CR/LF may start a new header.
    return "".join(c if c.isprintable() else " " for c in text)[:200]


def build_message(sender: str, to: Sequence[str], subject: str, body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Subject"] = _header(subject)
    msg["Date"] = formatdate(usegmt=True)  # RFC 5322 §3.6: required
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    msg.set_content(body)
    return msg


async def send_mail(relay: Relay, to: Sequence[str], subject: str, body: str) -> None:
    """Hand one plain-text message to ``relay``; raises DeliveryError (never
    with the password in it)."""
    if not relay.host:
        raise DeliveryError(f"{relay.name}: no SMTP host is configured")
    where = f"{relay.name}: SMTP server {relay.host}:{relay.port}"
    try:
        await _deliver(relay, build_message(relay.sender, to, subject, body), where)
    except aiosmtplib.SMTPAuthenticationError as e:
        raise DeliveryError(f"{where} refused the login for {relay.username!r} ({e.code})") from None
    except aiosmtplib.SMTPResponseException as e:
        raise DeliveryError(f"{where} answered {e.code}") from None
    except (aiosmtplib.SMTPException, OSError) as e:
        cause = e.__cause__ if isinstance(e.__cause__, OSError) else e  # ConnectionRefusedError, not a wrapper
        raise DeliveryError(f"{where}: {type(cause).__name__}: {cause}") from None


async def _deliver(relay: Relay, msg: EmailMessage, where: str) -> None:
    smtp = aiosmtplib.SMTP(hostname=relay.host, port=relay.port, timeout=relay.timeout_s, start_tls=False)
    async with smtp:
        await smtp.ehlo()
        if relay.starttls:
            # Refuse to send in clear when STARTTLS was asked for (RFC 3207 §4).
            if not smtp.supports_extension("starttls"):
                raise DeliveryError(f"{where} does not offer STARTTLS (starttls = true)")
            await smtp.starttls()
        if relay.username:
            await smtp.login(relay.username, relay.password)
        await smtp.send_message(msg)


class SmtpSender:
    """EmailSender: the email factor's codes through a provider's relay."""

    def __init__(self, cfg: ProviderConfig) -> None:
        self.relay = Relay.of_provider(cfg)

    async def send_email(self, to: str, *, subject: str, body: str) -> None:
        await send_mail(self.relay, [to], subject, body)

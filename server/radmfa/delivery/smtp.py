"""A small SMTP sender over the standard library (RFC 5321, STARTTLS RFC 3207).

smtplib blocks, so each message is sent in a worker thread: the event loop
(and every RADIUS answer) never waits for a mail server. Shared by the fraud
alert and any factor that mails a code.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from radmfa.config import SmtpConfig
from radmfa.errors import DeliveryError


def _header(text: str) -> str:
    # A User-Name comes from the network: no CR/LF may start a new header.
    return "".join(c if c.isprintable() else " " for c in text)[:200]


def build_message(cfg: SmtpConfig, to: Sequence[str], subject: str, body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = cfg.sender
    msg["To"] = ", ".join(to)
    msg["Subject"] = _header(subject)
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = make_msgid(domain=cfg.sender.rpartition("@")[2] or None)
    msg.set_content(body)
    return msg


async def send_mail(cfg: SmtpConfig, to: Sequence[str], subject: str, body: str) -> None:
    """Hand one plain-text message to ``[smtp] host``; raises DeliveryError."""
    if not cfg.host:
        raise DeliveryError("no [smtp] host is configured")
    await asyncio.to_thread(_send, cfg, build_message(cfg, to, subject, body))


def _send(cfg: SmtpConfig, msg: EmailMessage) -> None:
    where = f"SMTP server {cfg.host}:{cfg.port}"
    try:
        with smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_s) as smtp:
            smtp.ehlo()
            if cfg.starttls:
                # Refuse to send in clear when STARTTLS was asked for (RFC 3207 §4).
                if not smtp.has_extn("starttls"):
                    raise DeliveryError(f"{where} does not offer STARTTLS ([smtp] starttls = true)")
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if cfg.username:
                smtp.login(cfg.username, cfg.password.decode("utf-8"))
            smtp.send_message(msg)
    except smtplib.SMTPAuthenticationError as e:
        raise DeliveryError(f"{where} refused the login for {cfg.username!r} ({e.smtp_code})") from None
    except smtplib.SMTPResponseException as e:
        raise DeliveryError(f"{where} answered {e.smtp_code}") from None
    except (smtplib.SMTPException, OSError) as e:
        raise DeliveryError(f"{where}: {type(e).__name__}: {e}") from None

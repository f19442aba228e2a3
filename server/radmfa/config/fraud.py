"""``[fraud]`` and ``[limits]``: what a user's fraud report does, and how many
codes, calls and pushes radmfa sends (SMS pumping and toll fraud cost money)."""

from __future__ import annotations

from dataclasses import dataclass

from radmfa.config.audit import SmtpConfig
from radmfa.config.phone import SEND_METHODS
from radmfa.config.reader import Section


@dataclass(frozen=True, slots=True)
class FraudConfig:
    """``[fraud]``: what a user's fraud report does (seed 000)."""

    allow_reports: bool = True  # the fraud code / "report fraud" button records a report
    block_user: bool = True  # … and blocks the user
    block_days: int = 90  # for this long; 0 = until `radmfa user unblock`
    notify_email: tuple[str, ...] = ()  # addresses mailed each report (needs [smtp])
    notify_webhook: str = ""  # URL POSTed the report as JSON
    webhook_secret: bytes = b""  # signs the webhook body (HMAC-SHA256); empty = unsigned

    def __repr__(self) -> str:
        return (
            f"FraudConfig(allow_reports={self.allow_reports}, block_user={self.block_user}, "
            f"block_days={self.block_days}, notify_email={self.notify_email!r}, "
            f"notify_webhook={'<set>' if self.notify_webhook else ''!r}, webhook_secret=<redacted>)"
        )


@dataclass(frozen=True, slots=True)
class MethodLimit:
    per_user: int  # sends to one user per user_window_s; 0 = no limit
    per_hour: int  # sends to everyone per clock hour (SMS pumping, toll fraud); 0 = no cap


@dataclass(frozen=True, slots=True)
class LimitsConfig:
    """``[limits]``: how many codes, calls and pushes radmfa sends."""

    user_window_s: int = 600
    sms: MethodLimit = MethodLimit(5, 500)
    voice: MethodLimit = MethodLimit(5, 200)
    push: MethodLimit = MethodLimit(5, 2000)
    email: MethodLimit = MethodLimit(5, 1000)
    # The push deny streak: this many pushes denied, answered with a wrong
    # number or left unanswered within push_deny_window_s block the user's
    # pushes and raise a fraud report; 0 = off.
    push_deny_streak: int = 5
    push_deny_window_s: int = 3600

    def for_method(self, method: str) -> MethodLimit:
        if method not in SEND_METHODS:
            raise ValueError(f"not a send method: {method!r}")
        limit: MethodLimit = getattr(self, method)
        return limit


def parse_fraud(f: Section, smtp: SmtpConfig) -> FraudConfig:
    d = FraudConfig()
    emails = f.get("notify_email", list, [])
    webhook = f.get("notify_webhook", str, "")
    fraud = FraudConfig(
        allow_reports=f.get("allow_reports", bool, d.allow_reports),
        block_user=f.get("block_user", bool, d.block_user),
        block_days=f.integer("block_days", d.block_days, minimum=0, maximum=36500),
        notify_email=tuple(f.mailbox(f"notify_email[{i}]", e) for i, e in enumerate(emails)),
        notify_webhook=webhook,
        webhook_secret=f.secret_file("webhook_secret_file"),
    )
    if fraud.notify_email and not smtp.host:
        f.fail("notify_email", "needs [smtp] host (and from) to send the mail")
    if webhook and not webhook.startswith(("https://", "http://")):
        f.fail("notify_webhook", f"must be an http:// or https:// URL, got {webhook!r}")
    if fraud.webhook_secret and not webhook:
        f.fail("webhook_secret_file", "given without notify_webhook")
    f.done()
    return fraud


def parse_limits(sec: Section) -> LimitsConfig:
    d = LimitsConfig()
    methods = {}
    for method in SEND_METHODS:
        default = d.for_method(method)
        methods[method] = MethodLimit(
            per_user=sec.integer(f"{method}_per_user", default.per_user, minimum=0, maximum=1000),
            per_hour=sec.integer(f"{method}_per_hour", default.per_hour, minimum=0, maximum=10_000_000),
        )
    limits = LimitsConfig(
        user_window_s=sec.integer("user_window_s", d.user_window_s, minimum=60, maximum=86400),
        push_deny_streak=sec.integer("push_deny_streak", d.push_deny_streak, minimum=0, maximum=1000),
        push_deny_window_s=sec.integer("push_deny_window_s", d.push_deny_window_s, minimum=60, maximum=30 * 86400),
        **methods,
    )
    sec.done()
    return limits

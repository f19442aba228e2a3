"""Abuse limits: how many codes, calls and pushes radmfa sends.

Two limits per method, both counted in the store so that every worker and
node shares them:

* per user: at most ``<method>_per_user`` sends in a fixed window of
  ``user_window_s`` (default 5 per 10 minutes), so that nobody holding a
  password can flood a phone or run up a bill one user at a time;
* global: at most ``<method>_per_hour`` sends per clock hour, whoever they
  go to. SMS pumping and toll fraud (attackers triggering texts or calls to
  premium numbers they are paid for) need volume; this caps the bill.

Each check is one atomic increment that returns the new count (store
SendCounterStore.count_send); a send is allowed when its count is within the
limit, so N concurrent requests against a limit of L allow exactly
min(N, L). Fixed windows let a user reach twice the limit across a window
boundary; that is accepted for one store row per window and method.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from radmfa.core.admin_ports import Housekeeping
from radmfa.core.policy import name_key
from radmfa.core.ports import EventLog, SendCounterStore

if TYPE_CHECKING:
    from radmfa.config import LimitsConfig

# Audit reasons for a refused send (AuditRecord.reason).
RATE_LIMITED_USER = "rate-limited:user"
RATE_LIMITED_GLOBAL = "rate-limited:global"
GLOBAL_WINDOW_S = 3600  # the global cap is per clock hour
GLOBAL_SCOPE = "global"

_SENT = {
    "sms": "codes sent",
    "voice": "calls placed",
    "push": "push requests sent",
    "email": "codes sent by e-mail",
}
_BEING_SENT = {"sms": "text messages", "voice": "calls", "push": "push requests", "email": "e-mails"}


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a send was refused: ``reason`` for the audit log, ``message`` for
    the user (Reply-Message), ``retry_after_s`` until the window ends."""

    reason: str
    message: str
    retry_after_s: int


async def allow_send(
    store: SendCounterStore, settings: LimitsConfig, *, user: str, method: str, now: datetime, log: EventLog
) -> str | None:
    """None when the send is allowed (and counted); otherwise the Reply-Message
    text. Use check_send for the audit reason too."""
    refusal = await check_send(store, settings, user=user, method=method, now=now, log=log)
    return None if refusal is None else refusal.message


async def check_send(
    store: SendCounterStore, settings: LimitsConfig, *, user: str, method: str, now: datetime, log: EventLog
) -> Refusal | None:
    """Count one ``method`` send to ``user`` at ``now`` against both limits;
    None when it is within them. A send refused by the global cap is taken
    back from the user's count: the user did not get it. ``log`` gets the
    "send refused" line (docs/configuration.md, [limits])."""
    limit = settings.for_method(method)  # raises ValueError for anything but SEND_METHODS
    scope = "user:" + (name_key(user) or user)
    user_window = None
    if limit.per_user:
        user_window = window(now, settings.user_window_s)
        count = await store.count_send(scope, method, user_window[0], expires_at=_at(user_window[1]))
        if count > limit.per_user:
            retry = user_window[1] - _epoch(now)
            log.warning("send refused", user=user, method=method, reason=RATE_LIMITED_USER, count=count)
            return Refusal(RATE_LIMITED_USER, f"Too many {_SENT[method]}; try again in {_minutes(retry)}.", retry)
    if limit.per_hour:
        start, end = window(now, GLOBAL_WINDOW_S)
        count = await store.count_send(GLOBAL_SCOPE, method, start, expires_at=_at(end))
        if count > limit.per_hour:
            if user_window is not None:
                await store.uncount_send(scope, method, user_window[0])
            retry = end - _epoch(now)
            log.warning("send refused", user=user, method=method, reason=RATE_LIMITED_GLOBAL, count=count)
            return Refusal(
                RATE_LIMITED_GLOBAL,
                f"Too many {_BEING_SENT[method]} are being sent right now; "
                f"try again in {_minutes(retry)} or use another method.",
                retry,
            )
    return None


async def purge(store: Housekeeping, *, now: datetime) -> int:
    """Drop counters of windows that have ended (housekeeping)."""
    return await store.purge_send_counters(now=now)


def window(now: datetime, length_s: int) -> tuple[int, int]:
    """The fixed window holding ``now``: [start, end) in whole epoch seconds.
    A window ends exactly where the next begins."""
    start = _epoch(now) // length_s * length_s
    return start, start + length_s


def _epoch(now: datetime) -> int:
    if now.tzinfo is None:
        raise ValueError("pass a tz-aware UTC time")
    return math.floor(now.timestamp())


def _at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _minutes(seconds: int) -> str:
    n = max(1, math.ceil(seconds / 60))
    return "1 minute" if n == 1 else f"{n} minutes"

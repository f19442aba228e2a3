"""Raising a fraud alert: store the report, block the user if configured,
tell the security team. One entry point for every source (voice fraud code,
push "Deny and report fraud", an administrator's record), so each behaves
alike."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from radmfa.core.model import FraudReport
from radmfa.core.ports import EventLog, FraudAlertStore

if TYPE_CHECKING:
    from radmfa.config import FraudConfig

# Called with the stored report; must not raise for a delivery problem (it
# logs it): the report and the block are already in the store.
Notifier = Callable[[FraudReport], Awaitable[None]]

BLOCK_REASON = "fraud"  # users.blocked_reason; the audit reason is "blocked-fraud"


async def raise_alert(
    store: FraudAlertStore,
    settings: FraudConfig,
    report: FraudReport,
    *,
    now: datetime,
    log: EventLog,
    notify: Notifier | None = None,
) -> FraudReport | None:
    """Record ``report``; None when ``[fraud] allow_reports`` is off (the
    verification is still denied by the caller, nothing is stored).
    ``log`` gets the "fraud reported" line (docs/operator-guide.md)."""
    if not settings.allow_reports:
        log.info("fraud report ignored (allow_reports = false)", user=report.username, source=report.source)
        return None
    stored = await store.add_fraud_report(report)
    if settings.block_user:
        until = now + timedelta(days=settings.block_days) if settings.block_days else None
        # Never shortens a longer block: a leaver blocked by directory sync,
        # or a user blocked until unblocked, must not come back in block_days.
        await store.block_user(report.username, until=until, reason=BLOCK_REASON)
    # Seed 000: restore MFA on remembered devices when the account may be
    # compromised. Cached logins go too, so no login skips the second factor.
    await store.forget_devices(report.username)
    log.warning(
        "fraud reported",
        id=stored.id,
        user=stored.username,
        source=stored.source,
        client=stored.client_name,
        station=stored.calling_station_id,
        blocked=settings.block_user,
    )
    if notify is not None:
        await notify(stored)
    return stored

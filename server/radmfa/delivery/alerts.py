"""Telling the security team about a fraud report: mail and/or webhook.

``FraudNotifier`` is the ``fraud.Notifier`` the service and the CLI pass to
``fraud.raise_alert``. Calling it only schedules the deliveries and returns:
a RADIUS answer never waits for a mail server or a webhook. Each delivery is
retried a few times with growing pauses; every failure is logged (never a
secret), and a report whose alert could not go out is still in the store for
``radmfa fraud list``.
"""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Awaitable, Callable, Sequence

import aiohttp
import structlog

from radmfa.config import Config, FraudConfig, SmtpConfig
from radmfa.core.model import FraudReport
from radmfa.delivery import smtp, webhook
from radmfa.errors import DeliveryError

log = structlog.get_logger("radmfa.alerts")

RETRY_PAUSES_S = (2.0, 10.0, 60.0)  # after the 1st, 2nd and 3rd failure; then give up


def report_payload(report: FraudReport, *, server: str) -> dict[str, object]:
    """The report as the webhook's JSON body (and the mail's facts)."""
    return {
        "event": "fraud_report",
        "id": report.id,
        "time": report.time.isoformat().replace("+00:00", "Z"),
        "user": report.username,
        "source": report.source,
        "client": report.client_name,
        "calling_station_id": report.calling_station_id,
        "phone": report.phone,
        "device": report.device,
        "status": report.status,
        "note": report.note,
        "server": server,
    }


def mail_text(report: FraudReport, *, server: str) -> tuple[str, str]:
    subject = f"radmfa fraud alert: {report.username} ({report.source})"
    facts = report_payload(report, server=server)
    lines = [
        f"{report.username} reported a verification they did not start.",
        "",
        *(f"{key}: {value}" for key, value in facts.items() if key != "event" and value not in ("", None)),
        "",
        # Quoted: the team pastes it into a shell, and a name may hold spaces or quotes.
        f"Review it with: radmfa fraud list --user {shlex.quote(report.username)}",
    ]
    return subject, "\n".join(lines) + "\n"


class FraudNotifier:
    def __init__(
        self,
        fraud: FraudConfig,
        smtp_cfg: SmtpConfig,
        *,
        server: str,
        pauses_s: Sequence[float] = RETRY_PAUSES_S,
    ) -> None:
        self.fraud = fraud
        self.smtp = smtp_cfg
        self.server = server
        self.pauses_s = tuple(pauses_s)
        self._tasks: set[asyncio.Task[bool]] = set()
        self.delivered = 0
        self.failed = 0
        self.abandoned = 0  # still being retried when close() gave up on them

    @property
    def enabled(self) -> bool:
        return bool(self.fraud.notify_email or self.fraud.notify_webhook)

    def use_config(self, config: Config) -> None:
        """The store's settings changed (service/live_settings.py): who is told."""
        self.fraud = config.fraud

    async def __call__(self, report: FraudReport) -> None:
        """Schedule every configured delivery of ``report`` and return at once."""
        loop = asyncio.get_running_loop()
        for channel, send in self._channels(report):
            task = loop.create_task(self._deliver(channel, send, report))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _channels(self, report: FraudReport) -> list[tuple[str, Callable[[], Awaitable[None]]]]:
        channels: list[tuple[str, Callable[[], Awaitable[None]]]] = []
        if self.fraud.notify_email:
            subject, body = mail_text(report, server=self.server)
            to = self.fraud.notify_email

            relay = smtp.Relay.of_alerts(self.smtp)

            async def mail() -> None:
                await smtp.send_mail(relay, to, subject, body)

            channels.append(("email", mail))
        if self.fraud.notify_webhook:
            payload = report_payload(report, server=self.server)

            async def hook() -> None:
                async with aiohttp.ClientSession() as http:  # alerts are rare: no session kept between them
                    await webhook.post_json(http, self.fraud.notify_webhook, payload,
                                            secret=self.fraud.webhook_secret, timeout_s=self.smtp.timeout_s)

            channels.append(("webhook", hook))
        return channels

    async def _deliver(self, channel: str, send: Callable[[], Awaitable[None]], report: FraudReport) -> bool:
        for attempt in range(len(self.pauses_s) + 1):
            try:
                await send()
            except Exception as e:  # a delivery problem must never reach the caller
                last = attempt == len(self.pauses_s)
                (log.error if last else log.warning)(
                    "fraud alert not delivered" + ("; giving up" if last else "; will retry"),
                    channel=channel,
                    report=report.id,
                    attempt=attempt + 1,
                    error=str(e) if isinstance(e, DeliveryError) else type(e).__name__,
                )
                if last:
                    self.failed += 1
                    return False
                await asyncio.sleep(self.pauses_s[attempt])
            else:
                self.delivered += 1
                log.info("fraud alert delivered", channel=channel, report=report.id, attempt=attempt + 1)
                return True
        return False  # pragma: no cover (the loop always returns)

    async def drain(self, timeout_s: float | None = None) -> bool:
        """Wait for deliveries in flight; False when some were still running at the timeout."""
        if not self._tasks:
            return True
        _, pending = await asyncio.wait(set(self._tasks), timeout=timeout_s)
        return not pending

    async def close(self, timeout_s: float = 5.0) -> None:
        """At shutdown: give deliveries a moment, then cancel (the reports are stored)."""
        if not await self.drain(timeout_s):
            self.abandoned += len(self._tasks)
            log.warning("fraud alerts still being delivered were abandoned", count=len(self._tasks))
            for task in list(self._tasks):
                task.cancel()

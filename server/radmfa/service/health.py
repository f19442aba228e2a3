"""What this serve process sees of its upstream servers and delivery
providers, written to the store for the management portal's Health card.

The adapters already report every upstream answer or failure, every
fail-over state change and every provider call to ``metrics.current``
(radmfa/metrics.py). :class:`HealthRecorder` sits there in front of the
Prometheus instruments (or the no-op ones), keeps the last of each per
server and provider in memory, and passes every event on. :class:`HealthReporter`
upserts one row per component (store table ``component_health``) every
``REPORT_INTERVAL_S`` seconds, and within a second of an upstream going dead
or live or a provider starting or stopping to fail.

A node is ``[audit] server_name`` (the host name by default), with the
worker's pid when ``[radius] workers`` > 1: each worker has its own
fail-over state. The portal shows a row not refreshed for ``STALE_AFTER_S``
as stale (its process stopped); housekeeping drops it after a day.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from radmfa import metrics
from radmfa.config import Config
from radmfa.core.admin_model import ComponentHealth
from radmfa.core.admin_ports import Store
from radmfa.service.audit import log

REPORT_INTERVAL_S = 15.0
CHANGE_CHECK_S = 1.0
STALE_AFTER_S = 60.0
KEEP_FOR = timedelta(days=1)
MAX_COMPONENTS = 200  # per process; a surprise in the names does not grow the table without bound


def node_name(config: Config) -> str:
    name = config.audit.server_name
    return f"{name}/{os.getpid()}" if config.radius.workers > 1 else name


@dataclass(slots=True)
class _Seen:
    """Changed in place on every event (an upstream answer is one per
    proxied request): epoch seconds, made into datetimes only for a report."""

    up: bool
    last_ok_at: float | None = None
    last_failure_at: float | None = None
    failure_reason: str = ""
    latency_s: float | None = None


def _at(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


class HealthRecorder(metrics.Metrics):
    """Keeps the last state of each upstream server and provider; every
    event also goes on to ``inner``. Called from the event loop and from the
    LDAP upstream's threads."""

    def __init__(self, inner: metrics.Metrics) -> None:
        self.inner = inner
        # Events with nothing to remember here go straight to ``inner``: its
        # bound methods, not a call that makes another one (a retransmission
        # storm reports a drop per copy).
        self.answered = inner.answered  # type: ignore[method-assign]
        self.decided = inner.decided  # type: ignore[method-assign]
        self.dropped = inner.dropped  # type: ignore[method-assign]
        self.store = inner.store  # type: ignore[method-assign]
        self.in_flight = inner.in_flight  # type: ignore[method-assign]
        self.flush = inner.flush  # type: ignore[method-assign]
        self.lock = threading.Lock()
        self.seen: dict[tuple[str, str], _Seen] = {}
        self.changed = False  # a state flipped since the last report

    def _update(self, kind: str, name: str, *, up: bool | None, ok: bool | None = None,
                seconds: float | None = None, reason: str = "") -> None:
        key = (kind, name)
        with self.lock:
            seen = self.seen.get(key)
            if seen is None:
                if len(self.seen) >= MAX_COMPONENTS:
                    return
                seen = self.seen[key] = _Seen(up=True)
                self.changed = True
            if ok is True:
                seen.last_ok_at, seen.latency_s = time.time(), seconds
            elif ok is False:
                seen.last_failure_at, seen.latency_s, seen.failure_reason = time.time(), seconds, reason
            if up is not None and up != seen.up:
                seen.up = up
                self.changed = True

    def rows(self, node: str, *, now: datetime) -> list[ComponentHealth]:
        with self.lock:
            seen = [(key, s.up, s.last_ok_at, s.last_failure_at, s.failure_reason, s.latency_s)
                    for key, s in self.seen.items()]
            self.changed = False
        return [
            ComponentHealth(node=node, kind="upstream" if kind == "upstream" else "provider", name=name, up=up,
                            reported_at=now, last_ok_at=_at(ok_at), last_failure_at=_at(failed_at),
                            failure_reason=reason, latency_s=latency)
            for (kind, name), up, ok_at, failed_at, reason, latency in seen
        ]

    # ---- the events: remembered here, passed on ----

    def upstream(self, server: str, seconds: float, *, ok: bool) -> None:
        self._update("upstream", server, up=None, ok=ok, seconds=seconds, reason="" if ok else "no answer")
        self.inner.upstream(server, seconds, ok=ok)

    def upstream_up(self, server: str, up: bool) -> None:
        self._update("upstream", server, up=up)
        self.inner.upstream_up(server, up)

    def provider(self, provider: str, seconds: float, *, ok: bool, reason: str = "") -> None:
        self._update("provider", provider, up=ok, ok=ok, seconds=seconds, reason=reason)
        self.inner.provider(provider, seconds, ok=ok, reason=reason)


class HealthReporter:
    def __init__(self, store: Store, node: str) -> None:
        self.store, self.node = store, node
        self.recorder = HealthRecorder(metrics.current)

    def install(self) -> None:
        """In front of whatever counts now (the Prometheus instruments once [metrics] enabled them)."""
        metrics.current = self.recorder

    def uninstall(self) -> None:
        if metrics.current is self.recorder:
            metrics.current = self.recorder.inner

    async def report(self) -> None:
        rows = self.recorder.rows(self.node, now=datetime.now(UTC))
        await self.store.report_health(rows)

    async def run(self) -> None:
        """Report every REPORT_INTERVAL_S, and soon after a state changed; a store error is logged, not fatal."""
        last = 0.0
        while True:
            if self.recorder.changed or time.monotonic() - last >= REPORT_INTERVAL_S:
                last = time.monotonic()
                try:
                    await self.report()
                except Exception as e:
                    log.warning("health report failed", error=str(e) or type(e).__name__)
            await asyncio.sleep(CHANGE_CHECK_S)

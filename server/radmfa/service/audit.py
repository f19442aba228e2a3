"""Logging set-up and the audit trail: one event and one stored row per answer.

Rows are written to the store in batches off the hot path; ``close`` flushes
everything still queued, so a SIGTERM loses nothing. Passwords, codes and
secrets never reach a log: nothing passes them in, and a last processor
removes any key that looks like one, should a future caller slip.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from radmfa.config import AuditConfig, LogConfig
from radmfa.core import methods
from radmfa.core.model import AuditRecord
from radmfa.core.ports import AuditWriter

_SENSITIVE = ("password", "secret", "code", "otp", "seed", "passcode", "key")


def _redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        if key != "event" and any(word in key.lower() for word in _SENSITIVE):
            event[key] = "<redacted>"
    return event


def configure_logging(cfg: LogConfig, *, stream: Any = None) -> None:
    out = stream or sys.stderr
    fmt = cfg.format
    if fmt == "auto":
        fmt = "console" if getattr(out, "isatty", lambda: False)() else "json"
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=False) if fmt == "console" else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, cfg.level.upper())),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    global _audit_events
    _audit_events = getattr(logging, cfg.level.upper()) <= logging.INFO


log = structlog.get_logger("radmfa")


def recorded_phone(number: str, settings: AuditConfig) -> str:
    """The number texted or called, as [audit] destinations says to record it."""
    return methods.mask(number) if number and settings.destinations == "masked" else number


def recorded_device(device: str, settings: AuditConfig) -> str:
    """A push topic is recorded as shown (its secret part is masked already);
    the address a code was mailed to as [audit] destinations says."""
    if "@" in device and settings.destinations == "masked":
        return methods.mask_email(device)
    return device
_audit_events = True  # False when [log] level is above info: skip building the event


class AuditSink:
    """Emits the audit event at once and stores rows in batches."""

    def __init__(
        self,
        store: AuditWriter,
        *,
        settings: AuditConfig | None = None,
        batch: int = 500,
        interval_s: float = 0.2,
        max_buffered: int = 200_000,
    ) -> None:
        self.store = store
        self.settings = settings or AuditConfig()  # what the listener puts in each row
        self.batch = batch
        self.interval_s = interval_s
        self.max_buffered = max_buffered
        self._rows: list[AuditRecord] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self.written = 0
        self.dropped = 0  # rows lost because the store stayed down and the buffer was full
        self._last_error = 0.0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def record(self, row: AuditRecord, **extra: Any) -> None:
        if _audit_events:
            self._emit(row, extra)
        rows = self._rows
        rows.append(row)
        n = len(rows)
        if n > self.max_buffered:  # store down for long: keep the newest
            excess = n - self.max_buffered
            del rows[:excess]
            self.dropped += excess
            n -= excess
        if n >= self.batch or self._closing:
            self._wake.set()

    @staticmethod
    def _emit(row: AuditRecord, extra: dict[str, Any]) -> None:
        log.info(
            "auth",
            request_id=row.request_id,
            client=row.client_name,
            client_ip=row.client_ip,
            user=row.username,
            calling_station_id=row.calling_station_id,
            user_ip=row.user_ip,
            factor=row.factor,
            phone=row.phone or None,
            device=row.device or None,
            result=row.result,
            reason=row.reason,
            ms=round(row.duration_ms, 2),
            **extra,
        )

    async def _run(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval_s)
            self._wake.clear()
            await self.flush()

    async def flush(self) -> bool:
        """Write what is buffered; False if the store refused (rows are kept)."""
        while self._rows:
            rows = self._rows[: self.batch]
            try:
                await self.store.write_audit(rows)
            except Exception as e:  # keep serving; the structlog event already went out
                now = asyncio.get_running_loop().time()
                if now - self._last_error > 10.0:
                    self._last_error = now
                    log.error("audit write failed; rows kept for retry", error=str(e), buffered=len(self._rows))
                return False
            del self._rows[: len(rows)]  # only now: a failed or interrupted write loses nothing
            self.written += len(rows)
        return True

    async def close(self) -> None:
        """Stop the flusher after its current write (never cancel one mid-way),
        then write everything still buffered."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        for _ in range(3):
            if await self.flush():
                return
            await asyncio.sleep(0.5)
        log.error("audit rows not stored at shutdown", rows=len(self._rows))

"""``GET /metrics`` (Prometheus text format) and what feeds it.

* With ``[radius] workers = N > 1`` every worker counts into memory-mapped
  files in one private directory (prometheus_client's multi-process mode);
  any worker answers a scrape with the sum over all of them. The parent
  makes the directory before forking (:func:`prepare`), empties it at every
  start, and drops an exited worker's live gauges (:func:`worker_exited`).
  With one process the values stay in memory.
* ``[metrics] listen`` is its own address, not [http]'s (which providers
  must reach from outside): bind it to a management network.
* The counting happens here and in the adapters (radmfa/metrics.py), never
  in core/: a decision is timed around the Decider, the store by wrapping
  its methods, in-flight requests by a once-a-second sample. Counts reach
  the values a scrape reads once a second (and at every scrape for the
  worker answering it): a scrape may miss the last second of another worker.
* Challenges and held requests live in the store, shared by every worker
  and node: a scrape counts them there (``radmfa_pending_challenges``,
  ``radmfa_held_requests``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import os
import re
import shutil
import stat
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from radmfa import metrics
from radmfa.config import Config
from radmfa.core.model import AuthRequest, Decision
from radmfa.core.ports import FIXED_DEADLINE, Deadline, Decider
from radmfa.errors import ConfigError
from radmfa.service.audit import log

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from radmfa.core.admin_ports import Store
    from radmfa.service.radius import RadiusService

ENV = "PROMETHEUS_MULTIPROC_DIR"
SAMPLE_INTERVAL_S = 1.0
STORE_COUNT_TIMEOUT_S = 2.0
_NOT_TIMED = frozenset(("close", "migrate"))
_METRIC_FILE = re.compile(r"(counter|histogram|summary|gauge_[a-z]+)_[0-9]+\.db")


# ---- the workers' shared directory (the parent, before forking) ----


def prepare(cfg: Config) -> Path | None:
    """Set up multi-process mode for ``cfg.radius.workers`` > 1 workers:
    a private directory (``[metrics] directory``, else $RUNTIME_DIRECTORY/metrics
    under systemd, else a new one in the temporary directory), emptied of an
    earlier run's files, named in PROMETHEUS_MULTIPROC_DIR before
    prometheus_client is first imported. None when there is nothing to share."""
    if not cfg.metrics.listen or cfg.radius.workers <= 1:
        os.environ.pop(ENV, None)  # one process counts in memory, whatever the environment says
        return None
    if "prometheus_client" in sys.modules:  # too late to switch to multi-process values
        raise ConfigError(f"{cfg.path.name}: [metrics]: prometheus_client was loaded before the workers' directory")
    chosen = cfg.metrics.directory
    runtime = os.environ.get("RUNTIME_DIRECTORY", "").split(":")[0]
    if chosen is None and runtime:
        chosen = Path(runtime) / "metrics"
    if chosen is None:
        path = Path(tempfile.mkdtemp(prefix="radmfa-metrics-"))  # 0700, new
    else:
        path = _private_directory(chosen, cfg.path.name)
    os.environ[ENV] = str(path)
    return path


def _private_directory(path: Path, where: str) -> Path:
    """``path``, created 0700 if missing; refused unless it is a directory of
    ours that nobody else can write to; its metric files removed."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = path.lstat()
    except OSError as e:
        raise ConfigError(f"{where}: [metrics] directory: cannot create {path}: {e.strerror}") from None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise ConfigError(
            f"{where}: [metrics] directory: {path} must be a directory owned by this user and writable by no other"
        )
    for old in path.iterdir():
        if _METRIC_FILE.fullmatch(old.name):  # only prometheus_client's files, should the directory be shared
            old.unlink(missing_ok=True)
    return path


def worker_exited(directory: Path | None, pid: int) -> None:
    """A worker is gone: its live gauges (requests in flight) no longer count."""
    if directory is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]


def finished(directory: Path | None, cfg: Config) -> None:
    """The service stopped: remove a directory radmfa made for itself."""
    if directory is not None and cfg.metrics.directory is None:
        shutil.rmtree(directory, ignore_errors=True)


# ---- instrumentation of this process ----


class TimedDecider:
    """The pipeline, timed: ``radmfa_decision_seconds`` by result and factor."""

    def __init__(self, inner: Decider) -> None:
        self.inner = inner

    async def handle(self, request: AuthRequest, *, now: datetime, deadline: Deadline = FIXED_DEADLINE) -> Decision:
        started = time.perf_counter()
        decision = await self.inner.handle(request, now=now, deadline=deadline)
        metrics.current.decided(decision.verdict.value, decision.factor, time.perf_counter() - started)
        return decision


def _timed(name: str, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(method)
    async def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        ok = False
        try:
            result = await method(*args, **kwargs)
            ok = True
            return result
        finally:
            metrics.current.store(name, time.perf_counter() - started, ok=ok)

    return timed


def time_store(store: Store) -> None:
    """Time every store operation (``radmfa_store_seconds`` by method name):
    each public coroutine method of this store object is replaced by a timed
    one, so every caller (pipeline, audit, portal) is measured."""
    for name in dir(type(store)):
        if name.startswith("_") or name in _NOT_TIMED:
            continue
        if inspect.iscoroutinefunction(getattr(type(store), name, None)):
            setattr(store, name, _timed(name, getattr(store, name)))


class _StoreGauges:
    """Challenges and held requests, counted in the store by the scrape."""

    def __init__(self) -> None:
        self.values: tuple[int, int] | None = None

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        if self.values is None:
            return
        yield GaugeMetricFamily("radmfa_pending_challenges", "Access-Challenges sent and not yet answered or expired",
                                value=self.values[0])
        yield GaugeMetricFamily("radmfa_held_requests", "Requests held for a call or push the user has not answered",
                                value=self.values[1])


class MetricsEndpoint:
    def __init__(self, store: Store, service: RadiusService) -> None:
        from prometheus_client import CollectorRegistry

        self.store, self.service = store, service
        self.multiprocess = ENV in os.environ
        self.registry = CollectorRegistry()  # what a scrape shows
        if self.multiprocess:
            from prometheus_client import multiprocess

            multiprocess.MultiProcessCollector(self.registry)  # type: ignore[no-untyped-call]
            metrics.enable(None)  # values in the directory's files
        else:
            metrics.enable(self.registry)
        self.gauges = _StoreGauges()
        self.registry.register(self.gauges)
        self.sampler: asyncio.Task[None] | None = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1024)
        app.router.add_get("/metrics", self.scrape)
        return app

    async def scrape(self, request: web.Request) -> web.Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        try:
            self.gauges.values = await asyncio.wait_for(
                self.store.count_pending(now=datetime.now(UTC)), STORE_COUNT_TIMEOUT_S
            )
        except Exception as e:  # the rest is still worth having; radmfa_store_failures tells why
            log.warning("metrics: cannot count pending challenges", error=str(e) or type(e).__name__)
            self.gauges.values = None
        metrics.current.flush()  # this worker's counts to the second; the others flush every SAMPLE_INTERVAL_S
        body = await asyncio.to_thread(generate_latest, self.registry)  # reads every worker's files
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    def start_sampling(self) -> None:
        self.sampler = asyncio.get_running_loop().create_task(self._sample())

    async def _sample(self) -> None:
        while True:
            metrics.current.in_flight(len(self.service.flights), self.service.share.waiting())
            metrics.current.flush()
            await asyncio.sleep(SAMPLE_INTERVAL_S)

    async def close(self) -> None:
        if self.sampler is not None:
            self.sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.sampler
        metrics.current.flush()  # a stopping worker's last counts stay in its files
        metrics.disable()


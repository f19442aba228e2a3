"""The instruments behind ``GET /metrics``: what the adapters count and time.

Adapters (the RADIUS listener, the upstreams, delivery, the store wrapper in
service/metrics.py) call ``metrics.current.<event>(...)``. Until
:func:`enable` runs, ``current`` is a :class:`Metrics` whose methods do
nothing, so a radmfa without ``[metrics] listen`` (and every unit test) pays
one no-op call per event.

prometheus_client is imported only by :func:`enable`: it chooses between
in-process and multi-process values (``PROMETHEUS_MULTIPROC_DIR``) when it
is first imported, and service/metrics.py sets that directory first.

Label values come from closed sets (verdicts, drop reasons, factor names,
fixed reason texts) or from the configuration (client names, servers,
providers). A cap on distinct label sets per metric keeps a surprise from
growing the series without bound: past it, the value is counted under
``other``.
"""

from __future__ import annotations

import bisect
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

# Decision latency: a cached or password-only answer takes milliseconds; a
# push or call is held until the user answers (up to [mfa] oob_timeout_s).
DECISION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
IO_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
MAX_LABEL_SETS = 2000  # per metric; more distinct label sets are counted as "other"


class Metrics:
    """Every event an adapter reports; this base ignores them all."""

    def answered(self, client: str, code: str, reason: str) -> None:
        """A request got its answer: ``code`` access_accept, access_reject,
        access_challenge, or none (a backend failure in drop mode)."""

    def decided(self, result: str, factor: str, seconds: float) -> None:
        """The pipeline decided one request in ``seconds``."""

    def dropped(self, reason: str, client: str) -> None:
        """A datagram was dropped; ``client`` is "" when the source is unknown."""

    def upstream(self, server: str, seconds: float, *, ok: bool) -> None:
        """An upstream server answered (ok) or did not, after ``seconds``."""

    def upstream_up(self, server: str, up: bool) -> None:
        """The fail-over marked ``server`` live (True) or dead (False)."""

    def provider(self, provider: str, seconds: float, *, ok: bool, reason: str = "") -> None:
        """One call to a delivery provider's API or a webhook; ``reason``
        says briefly why it failed ("HTTP 503", "timed out"), never a secret."""

    def store(self, operation: str, seconds: float, *, ok: bool) -> None:
        """One store operation."""

    def in_flight(self, running: int, waiting: int) -> None:
        """Requests in this process: being decided, and waiting their turn."""

    def flush(self) -> None:
        """Make everything counted so far visible to a scrape."""


NO_METRICS = Metrics()
current: Metrics = NO_METRICS


class _Family:
    """One labelled counter or histogram: events add up here, in plain dicts
    under one lock (the LDAP upstream reports from its threads), and
    :meth:`flush` moves them into prometheus_client's values. An ``inc`` or
    ``observe`` of a multi-process value takes a lock and writes a memory
    map (several microseconds, and a histogram does it twice); the hot path
    pays a dict update, the flush once a second one call per label set."""

    def __init__(self, metric: Any, buckets: tuple[float, ...] = ()) -> None:
        self.metric = metric
        self.buckets = buckets  # empty for a counter
        self.children: dict[tuple[str, ...], Any] = {}
        self.counts: dict[tuple[str, ...], int] = {}
        self.observed: dict[tuple[str, ...], list[float]] = {}  # per bucket (and +Inf), then the sum

    def key(self, values: tuple[str, ...]) -> tuple[str, ...]:
        if values in self.children or len(self.children) < MAX_LABEL_SETS:
            return values
        return ("other",) * len(values)

    def child(self, values: tuple[str, ...]) -> Any:
        found = self.children.get(values)
        if found is None:
            found = self.children[values] = self.metric.labels(*values)
        return found

    def add(self, values: tuple[str, ...], n: int = 1) -> None:
        if values not in self.children:
            values = self.key(values)
            self.child(values)
        self.counts[values] = self.counts.get(values, 0) + n

    def observe(self, values: tuple[str, ...], seconds: float) -> None:
        if values not in self.children:
            values = self.key(values)
            self.child(values)
        slots = self.observed.get(values)
        if slots is None:
            slots = self.observed[values] = [0.0] * (len(self.buckets) + 2)
        slots[bisect.bisect_left(self.buckets, seconds)] += 1
        slots[-1] += seconds

    def flush(self) -> None:
        counts, self.counts = self.counts, {}
        observed, self.observed = self.observed, {}
        for values, n in counts.items():
            self.children[values].inc(n)
        for values, slots in observed.items():
            child = self.children[values]
            for i, seen in enumerate(slots[:-1]):
                if seen:
                    child._buckets[i].inc(seen)  # what Histogram.observe increments, n at once
            child._sum.inc(slots[-1])


class PrometheusMetrics(Metrics):
    def __init__(self, registry: CollectorRegistry | None) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        kw: dict[str, Any] = {"registry": registry}
        self.lock = threading.Lock()
        self.requests = _Family(Counter(
            "radmfa_requests", "Access-Requests answered, by response code, reason and client",
            ("code", "reason", "client"), **kw))
        self.decisions = _Family(Histogram(
            "radmfa_decision_seconds", "Time the pipeline took to decide a request (a held push or call included)",
            ("result", "factor"), buckets=DECISION_BUCKETS, **kw), DECISION_BUCKETS)
        self.drops = _Family(Counter(
            "radmfa_packets_dropped", "Datagrams dropped without an answer, by reason and client",
            ("reason", "client"), **kw))
        self.upstream_seconds = _Family(Histogram(
            "radmfa_upstream_seconds", "Time an upstream server took to answer, or to time out",
            ("server",), buckets=IO_BUCKETS, **kw), IO_BUCKETS)
        self.upstream_failures = _Family(Counter(
            "radmfa_upstream_failures", "Requests an upstream server did not answer", ("server",), **kw))
        self.provider_seconds = _Family(Histogram(
            "radmfa_provider_seconds", "Time a delivery provider's API (or a webhook) took to answer",
            ("provider",), buckets=IO_BUCKETS, **kw), IO_BUCKETS)
        self.provider_failures = _Family(Counter(
            "radmfa_provider_failures", "Provider calls that failed (no answer, or not 2xx)", ("provider",), **kw))
        self.store_seconds = _Family(Histogram(
            "radmfa_store_seconds", "Time a store operation took", ("operation",), buckets=IO_BUCKETS, **kw),
            IO_BUCKETS)
        self.store_failures = _Family(Counter(
            "radmfa_store_failures", "Store operations that raised", ("operation",), **kw))
        self.families = (self.requests, self.decisions, self.drops, self.upstream_seconds, self.upstream_failures,
                         self.provider_seconds, self.provider_failures, self.store_seconds, self.store_failures)
        # Gauges are set when they change, not per event.
        self.upstream_state = Gauge(
            "radmfa_upstream_up", "1 while the fail-over counts the upstream server live, 0 while marked dead",
            ("server",), multiprocess_mode="livemostrecent", **kw)
        self.provider_state = Gauge(
            "radmfa_provider_up", "1 if the provider's last call succeeded, 0 if it failed",
            ("provider",), multiprocess_mode="livemostrecent", **kw)
        self.running = Gauge("radmfa_requests_in_flight", "Requests being decided (a held push or call included)",
                             multiprocess_mode="livesum", **kw)
        self.waiting = Gauge("radmfa_requests_waiting", "Requests waiting for their client's fair share",
                             multiprocess_mode="livesum", **kw)
        self.states: dict[tuple[str, str], int] = {}

    def answered(self, client: str, code: str, reason: str) -> None:
        with self.lock:
            self.requests.add((code, reason, client))

    def decided(self, result: str, factor: str, seconds: float) -> None:
        with self.lock:
            self.decisions.observe((result, factor or "none"), seconds)

    def dropped(self, reason: str, client: str) -> None:
        with self.lock:
            self.drops.add((reason, client))

    def upstream(self, server: str, seconds: float, *, ok: bool) -> None:
        with self.lock:
            self.upstream_seconds.observe((server,), seconds)
            if not ok:
                self.upstream_failures.add((server,))

    def upstream_up(self, server: str, up: bool) -> None:
        self._state(self.upstream_state, "upstream", server, 1 if up else 0)

    def provider(self, provider: str, seconds: float, *, ok: bool, reason: str = "") -> None:
        with self.lock:
            self.provider_seconds.observe((provider,), seconds)
            if not ok:
                self.provider_failures.add((provider,))
        self._state(self.provider_state, "provider", provider, 1 if ok else 0)

    def store(self, operation: str, seconds: float, *, ok: bool) -> None:
        with self.lock:
            self.store_seconds.observe((operation,), seconds)
            if not ok:
                self.store_failures.add((operation,))

    def in_flight(self, running: int, waiting: int) -> None:
        self._state(self.running, "running", "", running)
        self._state(self.waiting, "waiting", "", waiting)

    def _state(self, gauge: Any, kind: str, name: str, value: int) -> None:
        key = (kind, name)
        if self.states.get(key) == value:
            return
        if key not in self.states and len(self.states) >= MAX_LABEL_SETS:
            return
        self.states[key] = value
        (gauge.labels(name) if name else gauge).set(value)

    def flush(self) -> None:
        """Move what was counted since the last flush into the values a scrape reads."""
        with self.lock:
            for family in self.families:
                family.flush()


def enable(registry: CollectorRegistry | None) -> PrometheusMetrics:
    """Start counting. ``registry`` None in multi-process mode (the values
    live in PROMETHEUS_MULTIPROC_DIR's files; a scrape reads them all)."""
    global current
    instruments = PrometheusMetrics(registry)
    current = instruments
    return instruments


def disable() -> None:
    global current
    current = NO_METRICS

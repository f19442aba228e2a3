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

    def provider(self, provider: str, seconds: float, *, ok: bool) -> None:
        """One call to a delivery provider's API or a webhook."""

    def store(self, operation: str, seconds: float, *, ok: bool) -> None:
        """One store operation."""

    def in_flight(self, running: int, waiting: int) -> None:
        """Requests in this process: being decided, and waiting their turn."""


NO_METRICS = Metrics()
current: Metrics = NO_METRICS


class _Children:
    """Label sets → the metric's child, cached: ``labels()`` takes a lock and
    builds a key; a dict lookup per event is what the hot path can afford."""

    def __init__(self, metric: Any) -> None:
        self.metric = metric
        self.cache: dict[tuple[str, ...], Any] = {}

    def get(self, *values: str) -> Any:
        child = self.cache.get(values)
        if child is None:
            if len(self.cache) >= MAX_LABEL_SETS:
                values = ("other",) * len(values)
                child = self.cache.get(values)
                if child is not None:
                    return child
            child = self.cache[values] = self.metric.labels(*values)
        return child


class PrometheusMetrics(Metrics):
    def __init__(self, registry: CollectorRegistry | None) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        kw: dict[str, Any] = {"registry": registry}
        self.requests = _Children(Counter(
            "radmfa_requests", "Access-Requests answered, by response code, reason and client",
            ("code", "reason", "client"), **kw))
        self.decisions = _Children(Histogram(
            "radmfa_decision_seconds", "Time the pipeline took to decide a request (a held push or call included)",
            ("result", "factor"), buckets=DECISION_BUCKETS, **kw))
        self.drops = _Children(Counter(
            "radmfa_packets_dropped", "Datagrams dropped without an answer, by reason and client",
            ("reason", "client"), **kw))
        self.upstream_seconds = _Children(Histogram(
            "radmfa_upstream_seconds", "Time an upstream server took to answer, or to time out",
            ("server",), buckets=IO_BUCKETS, **kw))
        self.upstream_failures = _Children(Counter(
            "radmfa_upstream_failures", "Requests an upstream server did not answer", ("server",), **kw))
        self.upstream_state = _Children(Gauge(
            "radmfa_upstream_up", "1 while the fail-over counts the upstream server live, 0 while marked dead",
            ("server",), multiprocess_mode="livemostrecent", **kw))
        self.provider_seconds = _Children(Histogram(
            "radmfa_provider_seconds", "Time a delivery provider's API (or a webhook) took to answer",
            ("provider",), buckets=IO_BUCKETS, **kw))
        self.provider_failures = _Children(Counter(
            "radmfa_provider_failures", "Provider calls that failed (no answer, or not 2xx)", ("provider",), **kw))
        self.provider_state = _Children(Gauge(
            "radmfa_provider_up", "1 if the provider's last call succeeded, 0 if it failed",
            ("provider",), multiprocess_mode="livemostrecent", **kw))
        self.store_seconds = _Children(Histogram(
            "radmfa_store_seconds", "Time a store operation took", ("operation",), buckets=IO_BUCKETS, **kw))
        self.store_failures = _Children(Counter(
            "radmfa_store_failures", "Store operations that raised", ("operation",), **kw))
        self.running = Gauge("radmfa_requests_in_flight", "Requests being decided (a held push or call included)",
                             multiprocess_mode="livesum", **kw)
        self.waiting = Gauge("radmfa_requests_waiting", "Requests waiting for their client's fair share",
                             multiprocess_mode="livesum", **kw)

    def answered(self, client: str, code: str, reason: str) -> None:
        self.requests.get(code, reason, client).inc()

    def decided(self, result: str, factor: str, seconds: float) -> None:
        self.decisions.get(result, factor or "none").observe(seconds)

    def dropped(self, reason: str, client: str) -> None:
        self.drops.get(reason, client).inc()

    def upstream(self, server: str, seconds: float, *, ok: bool) -> None:
        self.upstream_seconds.get(server).observe(seconds)
        if not ok:
            self.upstream_failures.get(server).inc()

    def upstream_up(self, server: str, up: bool) -> None:
        self.upstream_state.get(server).set(1 if up else 0)

    def provider(self, provider: str, seconds: float, *, ok: bool) -> None:
        self.provider_seconds.get(provider).observe(seconds)
        self.provider_state.get(provider).set(1 if ok else 0)
        if not ok:
            self.provider_failures.get(provider).inc()

    def store(self, operation: str, seconds: float, *, ok: bool) -> None:
        self.store_seconds.get(operation).observe(seconds)
        if not ok:
            self.store_failures.get(operation).inc()

    def in_flight(self, running: int, waiting: int) -> None:
        self.running.set(running)
        self.waiting.set(waiting)


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

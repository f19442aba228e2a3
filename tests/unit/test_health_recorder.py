"""The serve process's memory of its upstreams and providers, fed by the metrics events."""

from __future__ import annotations

from datetime import UTC, datetime

from radmfa import metrics
from radmfa.service.health import HealthRecorder
from radmfa.upstream.failover import Failover


class Counting(metrics.Metrics):
    def __init__(self) -> None:
        self.events: list[tuple[object, ...]] = []

    def upstream(self, server: str, seconds: float, *, ok: bool) -> None:
        self.events.append(("upstream", server, ok))

    def upstream_up(self, server: str, up: bool) -> None:
        self.events.append(("up", server, up))

    def provider(self, provider: str, seconds: float, *, ok: bool, reason: str = "") -> None:
        self.events.append(("provider", provider, ok, reason))

    def answered(self, client: str, code: str, reason: str) -> None:
        self.events.append(("answered", client, code, reason))

    def decided(self, result: str, factor: str, seconds: float) -> None:
        self.events.append(("decided", result, factor))

    def dropped(self, reason: str, client: str) -> None:
        self.events.append(("dropped", reason, client))

    def store(self, operation: str, seconds: float, *, ok: bool) -> None:
        self.events.append(("store", operation, ok))

    def in_flight(self, running: int, waiting: int) -> None:
        self.events.append(("in_flight", running, waiting))

    def flush(self) -> None:
        self.events.append(("flush",))


NOW = datetime(2030, 1, 1, tzinfo=UTC)


def test_failover_states_reach_the_rows_and_the_instruments() -> None:
    inner = Counting()
    recorder = HealthRecorder(inner)
    saved = metrics.current
    metrics.current = recorder
    try:
        pool = Failover([("127.0.0.1", 1812), ("127.0.0.1", 1813)], dead_time_s=30)
        assert pool.failed(("127.0.0.1", 1812), since=0.0, now=2.5)
        pool.answered(("127.0.0.1", 1813), since=2.5, now=2.51)
    finally:
        metrics.current = saved
    assert recorder.changed
    rows = {r.name: r for r in recorder.rows("node-a", now=NOW)}
    assert not recorder.changed  # reported
    dead, live = rows["127.0.0.1:1812"], rows["127.0.0.1:1813"]
    assert (dead.kind, dead.up, dead.failure_reason, dead.latency_s, dead.last_ok_at) == (
        "upstream", False, "no answer", 2.5, None)
    assert dead.last_failure_at is not None and dead.reported_at == NOW and dead.node == "node-a"
    assert live.up and live.last_ok_at is not None and live.last_failure_at is None
    assert live.latency_s is not None and abs(live.latency_s - 0.01) < 1e-6
    assert ("up", "127.0.0.1:1812", False) in inner.events and ("upstream", "127.0.0.1:1813", True) in inner.events


def test_provider_failure_keeps_the_last_success() -> None:
    recorder = HealthRecorder(metrics.NO_METRICS)
    recorder.provider("twilio", 0.2, ok=True)
    recorder.rows("n", now=NOW)
    recorder.provider("twilio", 0.3, ok=True)
    assert not recorder.changed  # no state flipped
    recorder.provider("twilio", 5.0, ok=False, reason="HTTP 503")
    assert recorder.changed
    [row] = recorder.rows("n", now=NOW)
    assert (row.kind, row.up, row.failure_reason, row.latency_s) == ("provider", False, "HTTP 503", 5.0)
    assert row.last_ok_at is not None and row.last_failure_at is not None


def test_events_it_does_not_remember_go_on_to_the_instruments() -> None:
    inner = Counting()
    recorder = HealthRecorder(inner)
    recorder.answered("nas", "access_accept", "ok")
    recorder.decided("accept", "totp", 0.01)
    recorder.dropped("duplicate_pending", "nas")
    recorder.store("find_user", 0.001, ok=False)
    recorder.in_flight(3, 1)
    recorder.flush()
    assert inner.events == [("answered", "nas", "access_accept", "ok"), ("decided", "accept", "totp"),
                            ("dropped", "duplicate_pending", "nas"), ("store", "find_user", False),
                            ("in_flight", 3, 1), ("flush",)]
    assert not recorder.changed and recorder.rows("n", now=NOW) == []

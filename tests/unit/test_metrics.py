"""[metrics] settings, the instruments' arithmetic, the workers' directory, and
the example Grafana dashboard naming only metrics radmfa exports."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from radmfa import metrics
from radmfa.config import load
from radmfa.config.metrics import DEFAULT_PORT
from radmfa.delivery.http import send
from radmfa.errors import ConfigError, DeliveryError
from radmfa.service.metrics import _private_directory, worker_exited
from radmfa.upstream.failover import Failover

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "docs" / "grafana-dashboard.json"


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "radmfa.toml"
    p.write_text(text)
    return p


# ---- [metrics] ----

def test_metrics_off_by_default(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, "")).metrics
    assert cfg.listen == () and cfg.directory is None


def test_metrics_listen_and_directory(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, '[metrics]\nlisten = ["10.9.0.5", "[::1]:9100"]\ndirectory = "run/m"\n')).metrics
    assert cfg.listen == (("10.9.0.5", DEFAULT_PORT), ("::1", 9100))
    assert cfg.directory == tmp_path / "run" / "m"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[metrics]\ndirectory = "m"\n', r"radmfa.toml: \[metrics\] directory: is used only with listen"),
        ('[metrics]\nlisten = ["host:port:x"]\n', r"\[metrics\] listen\[0\]"),
        ("[metrics]\nlisten = [9100]\n", r"\[metrics\] listen\[0\]: expected \"host:port\""),
        ('[metrics]\nlisten = ["127.0.0.1:9100"]\nallow = ["10.0.0.0/8"]\n', r"\[metrics\] allow: unknown setting"),
    ],
)
def test_metrics_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load(write(tmp_path, text))


# ---- the instruments ----

@pytest.fixture
def counting() -> Iterator[tuple[metrics.PrometheusMetrics, CollectorRegistry]]:
    registry = CollectorRegistry()
    instruments = metrics.enable(registry)
    yield instruments, registry
    metrics.disable()


def test_nothing_is_counted_while_disabled() -> None:
    assert metrics.current is metrics.NO_METRICS
    metrics.current.answered("nas", "access_accept", "x")  # a no-op, and no error
    metrics.current.flush()


def test_counts_reach_the_registry_at_flush(counting) -> None:
    instruments, registry = counting
    for _ in range(3):
        instruments.answered("nas-a", "access_reject", "upstream reject")
    instruments.dropped("truncated", "nas-a")
    labels = {"code": "access_reject", "reason": "upstream reject", "client": "nas-a"}
    assert registry.get_sample_value("radmfa_requests_total", labels) in (None, 0.0)
    instruments.flush()
    assert registry.get_sample_value("radmfa_requests_total", labels) == 3
    assert registry.get_sample_value("radmfa_packets_dropped_total", {"reason": "truncated", "client": "nas-a"}) == 1
    instruments.flush()  # nothing new: nothing added twice
    assert registry.get_sample_value("radmfa_requests_total", labels) == 3


def test_flushed_histogram_equals_observing_each_value(counting) -> None:
    """Summed per bucket and added at once, as Histogram.observe would have, bucket bounds included (le)."""
    instruments, registry = counting
    values = [0.0004, 0.001, 0.001, 0.0011, 0.05, 0.7, 3.0, 500.0]
    direct_registry = CollectorRegistry()
    direct = Histogram("radmfa_decision_seconds", "same", ("result", "factor"), buckets=metrics.DECISION_BUCKETS,
                       registry=direct_registry)
    for v in values:
        instruments.decided("accept", "totp", v)
        direct.labels("accept", "totp").observe(v)
    instruments.flush()

    def samples(reg: CollectorRegistry) -> dict[tuple[str, str], float]:
        text = generate_latest(reg).decode()
        return {(s.name, s.labels.get("le", "")): s.value for f in text_string_to_metric_families(text)
                for s in f.samples if s.name.startswith("radmfa_decision_seconds") and not s.name.endswith("created")}

    got = samples(registry)
    assert got == pytest.approx(samples(direct_registry))
    assert got[("radmfa_decision_seconds_bucket", "0.001")] == 3
    assert got[("radmfa_decision_seconds_count", "")] == len(values)


def test_label_sets_are_capped(counting, monkeypatch: pytest.MonkeyPatch) -> None:
    instruments, registry = counting
    monkeypatch.setattr(metrics, "MAX_LABEL_SETS", 3)
    for i in range(5):
        instruments.answered(f"nas-{i}", "access_accept", "ok")
    instruments.answered("nas-0", "access_accept", "ok")  # a known label set keeps its own series
    instruments.flush()
    assert registry.get_sample_value("radmfa_requests_total", {"code": "access_accept", "reason": "ok",
                                                               "client": "nas-0"}) == 2
    assert registry.get_sample_value("radmfa_requests_total", {"code": "other", "reason": "other",
                                                               "client": "other"}) == 2


def test_gauges_follow_the_failover(counting) -> None:
    instruments, registry = counting
    failover = Failover([("10.0.0.1", 1812), ("::1", 1812)], dead_time_s=30.0)
    failover.answered(("10.0.0.1", 1812), now=100.0, since=99.75)
    assert failover.failed(("::1", 1812), since=100.0, now=105.0)
    instruments.flush()
    assert registry.get_sample_value("radmfa_upstream_up", {"server": "10.0.0.1:1812"}) == 1
    assert registry.get_sample_value("radmfa_upstream_up", {"server": "[::1]:1812"}) == 0
    assert registry.get_sample_value("radmfa_upstream_seconds_sum", {"server": "10.0.0.1:1812"}) == 0.25
    assert registry.get_sample_value("radmfa_upstream_failures_total", {"server": "[::1]:1812"}) == 1
    failover.order(now=136.0)  # its dead time is over: live again
    assert registry.get_sample_value("radmfa_upstream_up", {"server": "[::1]:1812"}) == 1


# ---- the workers' directory ----

def test_directory_keeps_only_what_is_not_a_metric_file(tmp_path: Path) -> None:
    d = tmp_path / "m"
    d.mkdir(mode=0o700)
    for name in ("counter_12.db", "histogram_3.db", "gauge_livesum_12.db", "radmfa.db", "notes.txt"):
        (d / name).write_text("x")
    assert _private_directory(d, "radmfa.toml") == d
    assert sorted(p.name for p in d.iterdir()) == ["notes.txt", "radmfa.db"]


def test_directory_created_private(tmp_path: Path) -> None:
    d = _private_directory(tmp_path / "a" / "m", "radmfa.toml")
    assert d.is_dir() and d.stat().st_mode & 0o777 == 0o700


def test_directory_others_can_write_is_refused(tmp_path: Path) -> None:
    d = tmp_path / "m"
    d.mkdir()
    os.chmod(d, 0o777)  # noqa: S103 - the case under test
    with pytest.raises(ConfigError, match=r"radmfa.toml: \[metrics\] directory: .* writable by no other"):
        _private_directory(d, "radmfa.toml")


def test_an_exited_workers_live_gauges_are_dropped(tmp_path: Path) -> None:
    for name in ("gauge_livesum_41.db", "gauge_livemostrecent_41.db", "counter_41.db", "gauge_livesum_42.db"):
        (tmp_path / name).write_text("x")
    worker_exited(tmp_path, 41)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["counter_41.db", "gauge_livesum_42.db"]


# ---- the example dashboard ----

def exported_names(registry: CollectorRegistry) -> set[str]:
    """Every sample name radmfa can export (suffixes included), the scrape-time gauges too."""
    text = generate_latest(registry).decode()
    names = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
    return names | {"radmfa_pending_challenges", "radmfa_held_requests"}


def test_dashboard_names_only_exported_metrics(counting) -> None:
    instruments, registry = counting
    instruments.answered("c", "access_accept", "r")
    instruments.decided("accept", "totp", 0.1)
    instruments.dropped("r", "c")
    instruments.upstream("s", 0.1, ok=False)
    instruments.upstream_up("s", True)
    instruments.provider("p", 0.1, ok=False)
    instruments.store("op", 0.1, ok=False)
    instruments.in_flight(1, 1)
    instruments.flush()
    names = exported_names(registry)
    board = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for panel in board["panels"] for t in panel.get("targets", [])]
    assert len(exprs) >= 8
    for expr in exprs:
        used = set(re.findall(r"\bradmfa_[a-z_]+", expr))
        assert used, expr
        assert used <= names, f"{expr}: {sorted(used - names)} not exported"


async def test_provider_calls_are_timed_and_failures_counted(counting) -> None:
    """Delivery's one HTTP client against a local HTTP server: 2xx is up, 500 a failure."""
    instruments, registry = counting
    app = web.Application()
    app.router.add_post("/ok", _ok)
    app.router.add_post("/broken", _broken)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as http:
            await send(http, "POST", f"http://127.0.0.1:{port}/ok", where="provider sms1: Messages", timeout_s=30)
            assert registry.get_sample_value("radmfa_provider_up", {"provider": "sms1"}) == 1
            with pytest.raises(DeliveryError):
                await send(http, "POST", f"http://127.0.0.1:{port}/broken", where="provider sms1", timeout_s=30)
    finally:
        await runner.cleanup()
    instruments.flush()
    assert registry.get_sample_value("radmfa_provider_seconds_count", {"provider": "sms1"}) == 2
    assert registry.get_sample_value("radmfa_provider_failures_total", {"provider": "sms1"}) == 1
    assert registry.get_sample_value("radmfa_provider_up", {"provider": "sms1"}) == 0


async def _ok(_request: web.Request) -> web.Response:
    return web.Response(status=200)


async def _broken(_request: web.Request) -> web.Response:
    return web.Response(status=500)

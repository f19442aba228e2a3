"""The ``metrics`` scenario: what [metrics] listen costs, and whether /metrics
counts every request of a load run.

A second radmfa (same store, same workers) runs with ``[metrics] listen``;
passthrough rounds alternate between it and the main one (metrics off). Then
one more radclient run goes to it while a thread scrapes /metrics over HTTP
the whole time, and ``radmfa_requests_total`` after the run, less before it,
plus the datagrams dropped (radmfa_packets_dropped_total), plus those the
kernel dropped before radmfa could read them (/proc/net/udp), must equal the
requests radclient sent (once every worker has moved its counts to the
shared files: they do once a second). A request radclient stopped waiting
for on a busy machine is still answered, late, and counted.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from tests.peers.ports import free_tcp_port, free_udp_port

from bench.measure import median, radclient, write_packet_files
from bench.scenarios import Bench, _radclient_rounds
from bench.stack import NAS_SECRET, Radmfa


def requests_total(port: int) -> tuple[int, int, float]:
    """radmfa_requests_total and radmfa_packets_dropped_total, each summed
    over its labels, and how long the scrape took (ms)."""
    started = time.perf_counter()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as resp:  # noqa: S310
        text = resp.read().decode()
    took = (time.perf_counter() - started) * 1000.0
    total = dropped = 0
    for family in text_string_to_metric_families(text):
        total += sum(int(s.value) for s in family.samples if s.name == "radmfa_requests_total")
        dropped += sum(int(s.value) for s in family.samples if s.name == "radmfa_packets_dropped_total")
    return total, dropped, took


def socket_drops(port: int) -> int:
    """Datagrams the kernel dropped at radmfa's UDP sockets on ``port`` (a full
    receive buffer): radmfa never saw them, so no counter of its can have them."""
    total = 0
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                total += int(fields[-1])
    return total


def _settled(port: int) -> tuple[int, int]:
    """The two totals once they stop moving: each worker moves its counts to
    the shared files once a second, and late answers may still be going out."""
    last = requests_total(port)[:2]
    for _ in range(20):
        time.sleep(1.5)
        now = requests_total(port)[:2]
        if now == last:
            break
        last = now
    return last


def metrics(b: Bench) -> None:
    s = b.settings
    port = free_tcp_port()
    on = Radmfa(b.workdir, "radmfa-metrics", free_udp_port(), b.upstream.address, s.workers, metrics_port=port)
    try:
        on.start()
        arms = {"off": (b.radmfa.address, b.radmfa.pid), "on": (on.address, on.pid)}
        rates = _radclient_rounds(b, arms, "metrics_cost")
        check = _counted_run(b, on, port)
    finally:
        on.stop()
    off, with_metrics = median(rates["off"]), median(rates["on"])
    b.results["passthrough_rps_metrics"] = round(with_metrics)
    b.results["metrics_cost"] = round(1 - with_metrics / off, 3)
    b.results["metrics_requests_match"] = check["match"]
    b.details["metrics_cost"]["scraped_load_run"] = check
    # CPU per request is steadier than requests/s on a shared machine.
    cpu: dict[str, list[float]] = {"off": [], "on": []}
    for run in b.details["metrics_cost"]["runs"]:
        answered = run["accepted"] + run["rejected"]
        if answered:
            cpu[run["arm"]].append(run[f"{run['arm']}_cpu_share"] * b.cores * run["wall_s"] / answered * 1e6)
    b.details["metrics_cost"]["cpu_us_per_request"] = {arm: round(median(v), 1) for arm, v in cpu.items() if v}


def _counted_run(b: Bench, on: Radmfa, port: int) -> dict[str, Any]:
    s = b.settings
    distinct, repeat = min(1000, s.pass_packets // s.radclients), max(1, s.pass_packets // 1000)
    files = write_packet_files(b.workdir, s.radclients, distinct)
    before, dropped_before = _settled(port)
    kernel_before = socket_drops(on.port)
    scrape_ms: list[float] = []
    done = threading.Event()

    def scrape_during() -> None:
        while not done.is_set():
            scrape_ms.append(requests_total(port)[2])
            done.wait(0.2)

    scraper = threading.Thread(target=scrape_during, daemon=True)
    scraper.start()
    try:
        run = radclient(on.address, NAS_SECRET, files, parallel=s.parallel, repeat=repeat)
    finally:
        done.set()
        scraper.join(60)
    sent = distinct * repeat * len(files)  # radclient -r 1: each packet once, -c repeat times
    after, dropped_after = _settled(port)
    counted, dropped = after - before, dropped_after - dropped_before
    kernel = socket_drops(on.port) - kernel_before
    # A request radclient gave up on was still answered (late) or dropped (counted by reason).
    return {"match": counted + dropped + kernel == sent and sent > 0, "sent": sent, "counted": counted,
            "dropped": dropped, "dropped_by_the_kernel": kernel,
            "answered_in_time": run.accepted + run.rejected, "lost": run.lost, "scrapes_during_run": len(scrape_ms),
            "scrape_ms_median": round(median(scrape_ms), 1) if scrape_ms else None,
            "scrape_ms_max": round(max(scrape_ms), 1) if scrape_ms else None}

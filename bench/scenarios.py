"""The benchmark scenarios (docs/benchmarks.md), each adding its keys to ``Bench.results``.

Comparisons (radmfa against the FreeRADIUS proxy, against the upstream
directly, with against without retransmissions) run their two arms in
alternating rounds and take medians, so that whatever else the machine does
weighs on both arms alike.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.peers.freeradius import FreeRadius
from tests.peers.ports import free_udp_port

from bench import loadgen
from bench.loadgen import Job, Outcome
from bench.measure import CpuMeter, RadclientRun, median, percentile, radclient, write_packet_files
from bench.relay import Relay
from bench.stack import NAS_SECRET, QUIET_NAS, UPSTREAM_SECRET, Radmfa
from bench.users import Population, ensure_users


@dataclass(frozen=True)
class Settings:
    quick: bool
    workers: int
    users: int
    processes: int = 2  # load generator processes
    window: int = 32  # logins in flight per generator process
    radclients: int = 1  # radclient processes side by side (NAS source ports)
    parallel: int = 128  # radclient -p
    rounds: int = 5
    pass_packets: int = 20_000  # per radclient run, over all instances
    pass_check_s: float = 3.0  # each run of the load generator cross-check
    run_s: float = 10.0  # totp_login and inline runs (100k users last 10k logins/s for 10 s)
    latency_rate: float = 500.0
    latency_s: float = 5.0
    pending: int = 100_000
    million_users: int = 1_000_000  # the enrolled population of the RSS check (bench/million.py)
    storm_s: float = 5.0
    # Two copies back to back and one soon after (they find the request still
    # being processed), two later (they find it answered: the cached reply).
    storm_copies: tuple[float, ...] = (0.0, 0.0, 0.005, 0.050, 0.200)
    # fairness: one NAS floods valid password-only requests at each rate while
    # another NAS logs in with TOTP at quiet_rate logins/s.
    flood_rates: tuple[float, ...] = (3000.0, 12000.0)
    quiet_rate: float = 20.0
    fair_s: float = 10.0

    @classmethod
    def full(cls, workers: int, users: int) -> Settings:
        return cls(quick=False, workers=workers, users=users)

    @classmethod
    def smoke(cls, workers: int, users: int) -> Settings:
        return cls(quick=True, workers=workers, users=users, rounds=1, pass_packets=10_000,
                   run_s=3.0, latency_s=2.0, pending=min(users, 10_000), storm_s=2.0, million_users=100_000,
                   pass_check_s=1.5, fair_s=4.0)


@dataclass
class Bench:
    settings: Settings
    workdir: Path
    upstream: FreeRadius
    proxy: FreeRadius
    radmfa: Radmfa
    population: Population
    cores: int
    results: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    # logins/s per kind, for how many unused users a run needs (raised by what runs show)
    expected: dict[str, float] = field(default_factory=dict)

    def expected_rate(self, kind: str) -> float:
        """A guess of the next closed-loop run's logins/s, on the high side."""
        if kind in self.expected:
            return self.expected[kind]
        totp = self.expected.get("totp", 5000.0)
        return totp if kind == "totp" else 2.5 * totp  # inline: one request instead of two

    def meter(self, pids: dict[str, int | None] | None = None) -> CpuMeter:
        default = {"radmfa": self.radmfa.pid, "upstream": self.upstream.pid, "proxy": self.proxy.pid}
        return CpuMeter(pids or default, self.cores)

    def logins(self, job: Job, pids: dict[str, int | None] | None = None) -> tuple[Outcome, dict[str, float]]:
        """One load generator run, with the CPU shares of everything around it."""
        if job.kind in ("totp", "inline"):
            run_s = job.duration_s + job.warmup_s + 0.5
            rate = job.rate or self.expected_rate(job.kind)
            waited = ensure_users(self.population, rate, run_s)
            self.details.setdefault("waited_for_totp_step_s", 0.0)
            self.details["waited_for_totp_step_s"] += round(waited, 1)
        meter = self.meter(pids)
        out = loadgen.run(job, self.population)
        shares = meter.shares()
        shares["loadgen_cpu_share"] = round(out.cpu_s / (out.wall_s * self.cores), 3)
        if job.kind in ("totp", "inline") and not job.rate:
            self.expected[job.kind] = max(self.expected.get(job.kind, 0.0), out.rate * 1.25)
        return out, shares


def _summary(out: Outcome, shares: dict[str, float]) -> dict[str, Any]:
    keys = ("logins", "started", "rejected", "lost", "bad", "stray", "duplicate_replies",
            "requests", "packets", "stalled_s", "measured_s")
    return {"per_s": round(out.rate, 1), **{k: getattr(out, k) for k in keys}, **shares}


# ---- passthrough: radclient through radmfa and through the FreeRADIUS proxy ----

Arm = tuple[tuple[str, int], int | None]  # address, pid of the process tree answering there


def _radclient_rounds(b: Bench, arms: dict[str, Arm], name: str) -> dict[str, list[float]]:
    s = b.settings
    per_instance = s.pass_packets // s.radclients
    distinct = min(1000, per_instance)
    files = write_packet_files(b.workdir, s.radclients, distinct)
    repeat = max(1, per_instance // distinct)
    for address, _ in arms.values():  # warm-up: caches, sockets, the upstream's threads
        radclient(address, NAS_SECRET, files, parallel=s.parallel, repeat=1)
    pids = {arm: pid for arm, (_, pid) in arms.items()} | {"upstream": b.upstream.pid}
    rates: dict[str, list[float]] = {arm: [] for arm in arms}
    runs: list[dict[str, Any]] = []
    order = list(arms)
    for r in range(s.rounds):
        for arm in order if r % 2 == 0 else order[::-1]:
            meter = b.meter(pids)
            run = radclient(arms[arm][0], NAS_SECRET, files, parallel=s.parallel, repeat=repeat)
            rates[arm].append(run.rate)
            shares = meter.shares()
            runs.append({"round": r, "arm": arm, "per_s": round(run.rate, 1), "accepted": run.accepted,
                         "lost": run.lost, "rejected": run.rejected, "wall_s": round(run.wall_s, 2),
                         **shares, "cpu_us_per_request": cpu_per_request(shares, b.cores, run)})
    b.details[name] = {"radclient": f"-p {s.parallel} -c {repeat}, {distinct} packets x "
                                    f"{s.radclients} instance(s)", "runs": runs,
                       "median_cpu_us_per_request": {
                           arm: {who: round(median(run["cpu_us_per_request"][who] for run in runs
                                                   if run["arm"] == arm), 1)
                                 for who in (arm, "upstream", "driver")}
                           for arm in arms}}
    return rates


def cpu_per_request(shares: dict[str, Any], cores: int, run: RadclientRun) -> dict[str, float]:
    """Each process's CPU per accepted request (µs) in one radclient run, from its share of the machine.

    radclient polls for replies (``pselect6`` with a zero timeout) between sends, so its figure
    grows with the time the server under test takes: see ``bench.driver_polls``.
    """
    busy = cores * run.wall_s * 1e6 / max(1, run.accepted)
    return {name.removesuffix("_cpu_share"): round(share * busy, 1) for name, share in shares.items()
            if name.endswith("_cpu_share") and name not in ("machine_cpu_share", "other_cpu_share")}


def passthrough(b: Bench) -> None:
    arms = {"radmfa": (b.radmfa.address, b.radmfa.pid), "proxy": (b.proxy.address, b.proxy.pid)}
    rates = _radclient_rounds(b, arms, "passthrough")
    radmfa, proxy = median(rates["radmfa"]), median(rates["proxy"])
    b.results["radmfa_passthrough_rps"] = round(radmfa)
    b.results["freeradius_proxy_rps"] = round(proxy)
    b.results["passthrough_ratio"] = round(radmfa / proxy, 3)
    per_request = b.details["passthrough"]["median_cpu_us_per_request"]
    b.results["radclient_us_per_request_radmfa_arm"] = per_request["radmfa"]["driver"]
    b.results["radclient_us_per_request_proxy_arm"] = per_request["proxy"]["driver"]
    b.details["passthrough"]["round_ratios"] = [
        round(x / y, 3) for x, y in zip(rates["radmfa"], rates["proxy"], strict=True)]
    b.details["passthrough"]["loadgen_cross_check"] = _passthrough_by_loadgen(b)


def _passthrough_by_loadgen(b: Bench) -> dict[str, Any]:
    """The same comparison driven by our generator instead of radclient (a cheaper driver)."""
    arms = {"radmfa": (b.radmfa.address, True), "proxy": (b.proxy.address, False)}
    rates: dict[str, list[float]] = {arm: [] for arm in arms}
    runs = []
    for r in range(max(1, b.settings.rounds // 2 + 1)):
        for arm in list(arms) if r % 2 == 0 else list(arms)[::-1]:
            address, ma = arms[arm]
            job = Job("pass", address, NAS_SECRET.encode(), processes=b.settings.processes,
                      duration_s=b.settings.pass_check_s, warmup_s=0.5, window=64, require_ma=ma)
            out, shares = b.logins(job)
            rates[arm].append(out.rate)
            runs.append({"round": r, "arm": arm, **_summary(out, shares)})
    radmfa, proxy = median(rates["radmfa"]), median(rates["proxy"])
    return {"radmfa_per_s": round(radmfa), "proxy_per_s": round(proxy),
            "ratio": round(radmfa / proxy, 3), "runs": runs}


def log_cost(b: Bench) -> None:
    """Passthrough with [log] level = "info" (one audit event per request) against "warning"."""
    info = Radmfa(b.workdir, "radmfa-info", free_udp_port(), b.upstream.address,
                  b.settings.workers, log_level="info")
    try:
        info.start()
        arms = {"warning": (b.radmfa.address, b.radmfa.pid), "info": (info.address, info.pid)}
        rates = _radclient_rounds(b, arms, "log_cost")
    finally:
        info.stop()
    warning, at_info = median(rates["warning"]), median(rates["info"])
    b.results["passthrough_rps_log_info"] = round(at_info)
    b.results["log_info_cost"] = round(1 - at_info / warning, 3)


# ---- latency: paced, open loop ----

def latency(b: Bench) -> None:
    s = b.settings
    arms = {
        "radmfa": (b.radmfa.address, NAS_SECRET, True),
        "direct": (b.upstream.address, UPSTREAM_SECRET, False),
    }
    samples: dict[str, list[float]] = {arm: [] for arm in arms}
    runs = []
    for r in range(max(1, s.rounds // 2 + 1)):
        for arm in list(arms) if r % 2 == 0 else list(arms)[::-1]:
            address, secret, ma = arms[arm]
            job = Job("pass", address, secret.encode(), processes=1, duration_s=s.latency_s,
                      warmup_s=0.5, rate=s.latency_rate, require_ma=ma, record_latency=True)
            out, shares = b.logins(job)
            samples[arm].extend(out.latencies_ms)
            runs.append({"round": r, "arm": arm, "p50_ms": round(percentile(out.latencies_ms, 50), 3),
                         "p99_ms": round(percentile(out.latencies_ms, 99), 3), **_summary(out, shares)})
    p = {arm: (percentile(v, 50), percentile(v, 99)) for arm, v in samples.items()}
    b.results["added_p50_ms"] = round(p["radmfa"][0] - p["direct"][0], 3)
    b.results["added_p99_ms"] = round(p["radmfa"][1] - p["direct"][1], 3)
    b.details["latency"] = {
        "offered_per_s": s.latency_rate, "request": "password-only Access-Request (pass)",
        "radmfa_p50_ms": round(p["radmfa"][0], 3), "radmfa_p99_ms": round(p["radmfa"][1], 3),
        "direct_p50_ms": round(p["direct"][0], 3), "direct_p99_ms": round(p["direct"][1], 3),
        "samples": {arm: len(v) for arm, v in samples.items()}, "runs": runs,
    }
    # The whole two-step login at the same offered load, for reference (no target).
    job = Job("totp", b.radmfa.address, NAS_SECRET.encode(), processes=1, duration_s=s.latency_s,
              warmup_s=0.5, rate=s.latency_rate, record_latency=True)
    out, shares = b.logins(job)
    b.details["latency"]["totp_login"] = {
        "p50_ms": round(percentile(out.latencies_ms, 50), 3),
        "p99_ms": round(percentile(out.latencies_ms, 99), 3), **_summary(out, shares)}


# ---- totp_login and inline: closed loop, as fast as radmfa answers ----

def totp_login(b: Bench) -> None:
    s = b.settings
    for kind, key in (("totp", "totp_logins_per_s"), ("inline", "inline_logins_per_s")):
        job = Job(kind, b.radmfa.address, NAS_SECRET.encode(), processes=s.processes,
                  duration_s=s.run_s, window=s.window)
        out, shares = b.logins(job)
        b.results[key] = round(out.rate, 1)
        b.details[kind] = _summary(out, shares)
        if kind == "totp":
            b.results["loadgen_cpu_share"] = shares["loadgen_cpu_share"]


# ---- fairness: a quiet NAS's logins while another NAS floods ----

def fairness(b: Bench) -> None:
    """Open loop on both NASes, started together; the flood runs a second longer
    on each side so the quiet NAS's logins all meet it. A NAS gives up on a
    request after 3 s (the load generator does not retransmit); the figure is
    the quiet NAS's share of logins that completed (both legs answered)."""
    s = b.settings
    quiet = Job("totp", b.radmfa.address, NAS_SECRET.encode(), processes=1, duration_s=s.fair_s,
                warmup_s=1.0, rate=s.quiet_rate, source=QUIET_NAS, sockets=1, timeout_s=3.0)
    arms = []
    for rate in s.flood_rates:
        flood = Job("pass", b.radmfa.address, NAS_SECRET.encode(), processes=1 if rate <= 5000 else 2,
                    duration_s=s.fair_s + 1.0, warmup_s=1.0, rate=rate, sockets=64, timeout_s=1.0)
        ensure_users(b.population, s.quiet_rate, s.fair_s + 2.0)
        meter = b.meter()
        flood_out, quiet_out = loadgen.run_together([flood, quiet], b.population)
        shares = meter.shares()
        arms.append({
            "flood_offered_per_s": rate,
            "quiet_answered_share": round(quiet_out.completed / max(1, quiet_out.started), 4),
            "flood_answered_share": round(flood_out.completed / max(1, flood_out.started), 4),
            "flood_answered_per_s": round(flood_out.rate, 1),
            "quiet": {k: getattr(quiet_out, k) for k in ("started", "completed", "rejected", "lost", "bad")},
            "flood": {k: getattr(flood_out, k) for k in ("started", "completed", "rejected", "bad", "requests")},
            "flood_lost": flood_out.lost,  # expected: what radmfa dropped for the flooding NAS
            **shares,
        })
    b.results["fairness_quiet_answered"] = arms[0]["quiet_answered_share"]
    b.results["fairness_quiet_answered_overload"] = min(arm["quiet_answered_share"] for arm in arms[1:]) \
        if len(arms) > 1 else None
    b.details["fairness"] = {"quiet_logins_per_s": s.quiet_rate, "run_s": s.fair_s, "arms": arms}


# ---- retransmit storm: every request five times, through a counting relay ----

def retransmit(b: Bench) -> None:
    s = b.settings
    relay = Relay(b.upstream.address)
    node = Radmfa(b.workdir, "radmfa-relay", free_udp_port(), relay.address, s.workers)
    arms = {"once": (0.0,), "storm": s.storm_copies}
    rates: dict[str, list[float]] = {arm: [] for arm in arms}
    runs = []
    first_legs = upstream_packets = upstream_distinct = 0
    try:
        relay.start()
        node.start()
        pids = {"radmfa": node.pid, "upstream": b.upstream.pid, "relay": relay.pid}
        for r in range(max(1, s.rounds // 2 + 1)):
            for arm in list(arms) if r % 2 == 0 else list(arms)[::-1]:
                before = relay.counts()
                job = Job("totp", node.address, NAS_SECRET.encode(), processes=s.processes,
                          duration_s=s.storm_s, window=s.window, copies=arms[arm])
                out, shares = b.logins(job, pids)
                time.sleep(0.3)  # the relay publishes its counts every 0.1 s
                after = relay.counts()
                rates[arm].append(out.rate)
                runs.append({"round": r, "arm": arm, "upstream_packets": after[0] - before[0],
                             "upstream_distinct": after[1] - before[1], **_summary(out, shares)})
                if arm == "storm":
                    first_legs += out.started
                    upstream_packets += after[0] - before[0]
                    upstream_distinct += after[1] - before[1]
    finally:
        node.stop()
        relay.stop()
    b.results["retransmit_ratio"] = round(median(rates["storm"]) / median(rates["once"]), 3)
    b.results["freeradius_retransmit_ratio"] = _freeradius_storm(b, arms, runs)
    b.results["upstream_requests_per_unique"] = round(upstream_packets / max(1, first_legs), 3)
    b.details["retransmit"] = {
        "copies_at_s": list(s.storm_copies), "storm_first_legs": first_legs,
        "storm_upstream_packets": upstream_packets, "storm_upstream_distinct": upstream_distinct,
        "runs": runs,
    }


def _freeradius_storm(b: Bench, arms: dict[str, tuple[float, ...]], runs: list[dict[str, Any]]) -> float:
    """The FreeRADIUS proxy's own ratio under the same storm (password-only
    requests: it has no second factor), so radmfa's ratio is read against
    what a C proxy keeps of its throughput, not against an absolute figure."""
    s = b.settings
    rates: dict[str, list[float]] = {arm: [] for arm in arms}
    pids = {"proxy": b.proxy.pid, "upstream": b.upstream.pid}
    for r in range(max(1, s.rounds // 2 + 1)):
        for arm in list(arms) if r % 2 == 0 else list(arms)[::-1]:
            job = Job("pass", b.proxy.address, NAS_SECRET.encode(), processes=s.processes,
                      duration_s=s.storm_s, window=s.window, copies=arms[arm], require_ma=False,
                      sockets=64)  # a proxy answers fast: Identifiers stay held until the last copy
            out, shares = b.logins(job, pids)
            rates[arm].append(out.rate)
            runs.append({"round": r, "arm": f"freeradius_{arm}", **_summary(out, shares)})
    return round(median(rates["storm"]) / median(rates["once"]), 3)


# ---- pending: RSS with many challenges open ----

def pending(b: Bench) -> None:
    """Restarts radmfa first, so the figure is the challenges' and not what earlier scenarios left."""
    s = b.settings
    earlier = b.radmfa.memory()
    b.radmfa.stop()
    b.radmfa.start()
    before = b.radmfa.memory()
    job = Job("open", b.radmfa.address, NAS_SECRET.encode(), processes=s.processes,
              duration_s=600.0, warmup_s=0.0, window=s.window, total=s.pending)
    out, shares = b.logins(job)
    time.sleep(0.5)
    after = b.radmfa.memory()
    b.results["rss_mb_100k_pending"] = round(after["rss_mb"], 1) if s.pending >= 100_000 else None
    b.details["pending"] = {
        "challenges_opened": out.completed, "opened_per_s": round(out.rate, 1),
        "rss_mb_after_earlier_scenarios": round(earlier["rss_mb"], 1),
        "rss_mb_fresh": round(before["rss_mb"], 1), "rss_mb_after": round(after["rss_mb"], 1),
        "pss_mb_after": round(after["pss_mb"], 1), "peak_rss_mb": round(after["hwm_mb"], 1),
        "processes": after["processes"], **_summary(out, shares),
    }

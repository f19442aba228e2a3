"""Benchmark radmfa against a FreeRADIUS proxy on this machine: ``make bench``.

Starts, on free loopback ports, a FreeRADIUS upstream that accepts everyone,
radmfa in front of it, and FreeRADIUS as a plain proxy in front of the same
upstream; enrols the TOTP users; runs the scenarios; writes
bench/results/latest.json and latest.md (``--quick``: quick.json, quick.md).
Everything it starts is stopped on the way out, and the whole run is bounded
by an alarm. How to read the figures: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # for bench.* and tests.peers (the project's peer launchers)

from tests.peers.freeradius import FreeRadius  # noqa: E402
from tests.peers.ports import free_udp_port  # noqa: E402

from bench import ldap_upstream, local_passwords, metrics_check, million, postgres_store, report, scenarios  # noqa: E402
from bench.profile import Profiler  # noqa: E402
from bench.scenarios import Bench, Settings  # noqa: E402
from bench.stack import NAS_SECRET, UPSTREAM_SECRET, Radmfa, seed, write_clients  # noqa: E402
from bench.users import Population  # noqa: E402
from radmfa.config import RadiusConfig  # noqa: E402

SCENARIOS = {
    "passthrough": scenarios.passthrough,
    "log_cost": scenarios.log_cost,
    "metrics": metrics_check.metrics,
    "latency": scenarios.latency,
    "totp_login": scenarios.totp_login,
    "retransmit": scenarios.retransmit,
    "fairness": scenarios.fairness,
    "postgres": postgres_store.postgres,  # after totp_login: its ratio is to that run's figure
    "ldap": ldap_upstream.ldap,
    "local_passwords": local_passwords.scenario,  # a radmfa of its own, with the local upstream
    "million_users": million.scenario,  # a radmfa and a store of their own, 1,000,000 users
    "pending": scenarios.pending,  # last: it leaves 100,000 challenges in the store
}
NEEDS_USERS = {"passthrough", "log_cost", "latency", "totp_login", "retransmit", "fairness", "postgres", "ldap",
               "pending"}
ONLY = {"local": "local_passwords"}  # --only NAME: these scenarios, merged into the existing results
TIME_LIMIT_S = {False: 1800, True: 300}
OTHER_CPU_WARNING = 0.1  # share of the machine used by processes outside the benchmark


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="short smoke run (under 2 minutes)")
    p.add_argument("--scenarios", default=",".join(SCENARIOS),
                   help=f"comma-separated subset of: {', '.join(SCENARIOS)}")
    p.add_argument("--only", choices=sorted(ONLY),
                   help="run only these scenarios and merge their keys into the existing results file")
    p.add_argument("--workers", type=int, default=RadiusConfig().workers,
                   help="radmfa [radius] workers (default: the config default, %(default)s)")
    p.add_argument("--users", type=int, help="enrolled TOTP users (default 100000; quick 60000)")
    p.add_argument("--processes", type=int, help="load generator processes (default 2)")
    p.add_argument("--window", type=int, help="logins in flight per generator process (default 32)")
    p.add_argument("--radclients", type=int, help="radclient processes side by side (default 1)")
    p.add_argument("--rounds", type=int, help="alternating rounds per comparison (default 5; quick 1)")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results", help="results directory")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (configs, logs, store)")
    p.add_argument("--profile", action="store_true",
                   help="sample radmfa with py-spy into OUT/profile/ (slows radmfa: not for the table)")
    args = p.parse_args(argv)
    if args.only:
        args.scenarios = ONLY[args.only]
    unknown = set(args.scenarios.split(",")) - set(SCENARIOS)
    if unknown:
        p.error(f"unknown scenario(s) {', '.join(sorted(unknown))}; choose from {', '.join(SCENARIOS)}")
    return args


def settings_from(args: argparse.Namespace) -> Settings:
    users = args.users or (60_000 if args.quick else 100_000)
    base = (Settings.smoke if args.quick else Settings.full)(args.workers, users)
    overrides = {k: getattr(args, k) for k in ("processes", "window", "radclients", "rounds")
                 if getattr(args, k) is not None}
    return replace(base, **overrides)


def say(started: float, text: str) -> None:
    print(f"[{time.monotonic() - started:6.1f}s] {text}", file=sys.stderr, flush=True)


def _alarm(_signum: int, _frame: object) -> None:
    raise TimeoutError("the benchmark ran past its time limit; stopping everything it started")


def _terminate(_signum: int, _frame: object) -> None:
    raise SystemExit("bench/run.py: terminated; stopping everything it started")


def warnings_in(details: Any, path: str = "") -> list[str]:
    """Anything that makes a figure less trustworthy: losses, stalls, bad replies, a busy machine."""
    found = []
    if isinstance(details, dict):
        for key in ("lost", "bad", "rejected", "stalled_s"):
            if details.get(key):
                found.append(f"{path or 'run'}: {key} = {details[key]}")
        if details.get("other_cpu_share", 0) > OTHER_CPU_WARNING:
            found.append(f"{path or 'run'}: processes outside the benchmark used "
                         f"{details['other_cpu_share']:.0%} of the machine")
        for key, value in details.items():
            found += warnings_in(value, f"{path}.{key}" if path else key)
    elif isinstance(details, list):
        for i, value in enumerate(details):
            found += warnings_in(value, f"{path}[{i}]")
    return found


def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.monotonic()
    settings = settings_from(args)
    chosen = [name for name in SCENARIOS if name in args.scenarios.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="radmfa-bench-"))
    upstream = FreeRadius.ack(None, UPSTREAM_SECRET)
    proxy: FreeRadius | None = None
    radmfa: Radmfa | None = None
    profiler: Profiler | None = None
    doc: dict[str, Any] = {"results": {}, "machine": report.machine(settings.workers),
                           "settings": asdict(settings), "scenarios": chosen}
    try:
        upstream.start()
        proxy = FreeRadius.proxy(None, NAS_SECRET, home=(*upstream.address, UPSTREAM_SECRET)).start()
        write_clients(workdir)
        population = Population(settings.users)
        if NEEDS_USERS & set(chosen):
            say(started, f"enrolling {settings.users:,} TOTP users through the Store API")
            doc["seed_s"] = round(seed(workdir, settings.users), 1)
        radmfa = Radmfa(workdir, "radmfa", free_udp_port(), upstream.address, settings.workers).start()
        if args.profile:
            assert radmfa.pid is not None
            profiler = Profiler(radmfa.pid, args.out / "profile")
            doc["profiled"] = "yes: py-spy sampled radmfa during this run, figures are lower"
        bench = Bench(settings, workdir, upstream, proxy, radmfa, population, doc["machine"]["cores"])
        timings = {}
        for name in chosen:
            say(started, f"scenario {name}")
            t0 = time.monotonic()
            SCENARIOS[name](bench)
            timings[name] = round(time.monotonic() - t0, 1)
            say(started, f"  {name}: " + ", ".join(f"{k}={v}" for k, v in bench.results.items()))
        doc["results"] = bench.results
        doc["details"] = {**bench.details, "scenario_s": timings}
    finally:
        if profiler is not None:
            say(started, f"profile: {profiler.stop()}")
        for component in (radmfa, proxy, upstream):
            if component is not None:
                component.stop()
        if args.keep:
            say(started, f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    doc["total_s"] = round(time.monotonic() - started, 1)
    doc["targets"] = report.targets(doc["results"])
    doc["warnings"] = warnings_in(doc.get("details", {}))
    return doc


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGALRM, _alarm)
    signal.signal(signal.SIGTERM, _terminate)
    signal.alarm(TIME_LIMIT_S[args.quick])
    try:
        doc = run(args)
    finally:
        signal.alarm(0)
    if args.only:
        doc = report.merged(args.out / f"{'quick' if args.quick else 'latest'}.json", doc)
    json_path, md_path = report.write(doc, args.out, "quick" if args.quick else "latest")
    print(md_path.read_text())
    print(f"wrote {json_path} and {md_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

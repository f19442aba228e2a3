"""How fast the reports answer over a year of audit rows.

Fills a fresh store with ``--rows`` audit rows (default 1,000,000) spread
over a year — 2,000 users, 20 clients, the methods and results in realistic
shares — through ``Store.write_audit``, then times each report's store work
(what ``radmfa report …`` awaits) ``--repeat`` times and prints the median
with the query plan. SQLite by default; ``--backend postgres`` (or ``both``)
uses a throwaway database on ``RADMFA_TEST_POSTGRES_URL``. Not a test: speed
targets live here (docs/benchmarks.md, "Reports").

    .venv/bin/python bench/reports.py [--rows N] [--backend sqlite|postgres|both] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # for tests.peers (the throwaway PostgreSQL database)

from radmfa.core.admin_model import AuditFilter  # noqa: E402
from radmfa.core.admin_ports import Store  # noqa: E402
from radmfa.core.model import AuditRecord  # noqa: E402
from radmfa.reports import rows as reports  # noqa: E402
from radmfa.store import open_store  # noqa: E402

END = datetime(2026, 11, 1, tzinfo=UTC)
START = END - timedelta(days=365)
USERS = [f"user{n:04d}" for n in range(2000)]
CLIENTS = [f"vpn{n:02d}" for n in range(20)]
METHODS = (("totp", 60), ("push", 20), ("sms", 10), ("voice", 10))
RESULTS = (("accept", 80), ("reject", 15), ("challenge", 4), ("drop", 1))
BATCH = 10_000


def rows(count: int, seed: int = 6) -> list[AuditRecord]:
    rnd = random.Random(seed)
    span = (END - START).total_seconds()
    times = sorted(rnd.random() * span for _ in range(count))  # written in time order, as the service does
    methods = rnd.choices([m for m, _ in METHODS], [w for _, w in METHODS], k=count)
    results = rnd.choices([r for r, _ in RESULTS], [w for _, w in RESULTS], k=count)
    out = []
    for n, (offset, method, result) in enumerate(zip(times, methods, results, strict=True)):
        user = USERS[int(len(USERS) * rnd.random() ** 2)]  # some users log in far more than others
        phone = f"+1415555{USERS.index(user):04d}" if method in ("sms", "voice") else ""
        out.append(
            AuditRecord(
                START + timedelta(seconds=offset), f"b-{n:x}", CLIENTS[n % 7 if n % 3 else n % 20], "192.0.2.1",
                user, "198.51.100.7", method, result, "" if result == "accept" else "wrong code", 120.0,
                phone=phone, device="ntfy:x" if method == "push" else "", user_ip="198.51.100.7",
                server_name="mfa1", server_ip="192.0.2.10",
            )
        )
    return out


def queries(store: Store) -> dict[str, Callable[[], Awaitable[int]]]:
    """Each report as the CLI runs it; returns how many rows it produced."""
    week = END - timedelta(days=7)
    day = END - timedelta(days=1)
    year = AuditFilter(since=START, until=END)

    async def auth(**kw: Any) -> int:
        return len(reports.auth_rows(await store.query_audit(**kw)))

    async def daily(by: tuple[str, ...], **kw: Any) -> int:
        return len(await store.count_daily(by, since=START, until=END, **kw))

    async def count(f: AuditFilter, by: tuple[str, ...], **kw: Any) -> int:
        return len(await store.count_audit(f, by, **kw))

    return {
        "auth --limit 50": lambda: auth(limit=50),
        "auth --since 1d (all rows of a day)": lambda: auth(since=day),
        "auth --user U (a year, a typical user)": lambda: auth(username=USERS[700]),
        "auth --phone P (a year)": lambda: auth(phone="+14155550700"),
        "auth --client C --since 7d": lambda: auth(client=CLIENTS[11], since=week),
        "auth --result reject --since 1d": lambda: auth(result="reject", since=day),
        "auth --method voice --since 7d": lambda: auth(method="voice", since=week),
        "usage --by day (a year)": lambda: daily(("day", "method", "result")),
        "usage --by client (a year)": lambda: daily(("client", "result")),
        "usage --by user --top 10 (a year)": lambda: count(
            AuditFilter(START, END, result="reject"), ("user",), most_first=True, limit=10
        ),
        "usage --chart (a year, day x result)": lambda: daily(("day", "result")),
        "usage --by day --client C (a year)": lambda: daily(("day", "method", "result"), client=CLIENTS[11]),
        "(GROUP BY over audit) day x method x result": lambda: count(year, ("day", "method", "result")),
    }


async def bench_backend(name: str, url: str, base: Path, count: int, repeat: int) -> dict[str, Any]:
    store = await open_store(url, key_file=base / "bench.key", base_dir=base)
    try:
        data = rows(count)
        started = time.perf_counter()
        for i in range(0, len(data), BATCH):
            await store.write_audit(data[i : i + BATCH])
        load_s = time.perf_counter() - started
        print(f"{name}: {count:,} rows written in {load_s:.1f} s ({count / load_s:,.0f} rows/s)", flush=True)
        if name == "postgres":
            await store._fetch("ANALYZE")  # type: ignore[attr-defined]  # what autovacuum does soon after a load
        results: dict[str, Any] = {}
        for label, run in queries(store).items():
            times, produced = [], 0
            for _ in range(repeat):
                t0 = time.perf_counter()
                produced = await run()
                times.append(time.perf_counter() - t0)
            plan = await explain(store, name, run)
            results[label] = {"median_s": statistics.median(times), "max_s": max(times), "rows": produced,
                              "plan": plan}
            print(f"  {label:42} {statistics.median(times) * 1000:8.1f} ms  ({produced:,} rows)", flush=True)
            for line in plan:
                print(f"      {line}")
        return {"rows": count, "load_s": load_s, "reports": results}
    finally:
        await store.close()


@contextmanager
def postgres_database() -> Iterator[str]:
    """A database of its own on the test server, dropped afterwards."""
    from tests.peers.postgres import ADMIN_URL, _admin, run, with_database

    name = "radmfa_bench_" + secrets.token_hex(6)
    run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield with_database(ADMIN_URL, name)
    finally:
        run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def explain(store: Store, backend: str, run: Callable[[], Awaitable[int]]) -> list[str]:
    """The plan of the statement ``run`` sends (recorded off the store's _fetch)."""
    seen: list[tuple[str, tuple[object, ...]]] = []
    fetch = store._fetch  # type: ignore[attr-defined]

    async def recording(sql: str, *args: object) -> Any:
        seen.append((sql, args))
        return await fetch(sql, *args)

    store._fetch = recording  # type: ignore[attr-defined]
    try:
        await run()
    finally:
        del store._fetch  # type: ignore[attr-defined]
    sql, args = seen[-1]
    prefix = "EXPLAIN QUERY PLAN " if backend == "sqlite" else "EXPLAIN "
    return [str(row[-1]) for row in await fetch(prefix + sql, *args)]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/reports.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="sqlite")
    p.add_argument("--out", type=Path, help="also write the figures as JSON")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    figures: dict[str, Any] = {"when": datetime.now(UTC).isoformat(timespec="seconds")}
    with tempfile.TemporaryDirectory(prefix="radmfa-bench-reports-") as tmp:
        base = Path(tmp)
        if args.backend in ("sqlite", "both"):
            figures["sqlite"] = asyncio.run(bench_backend("sqlite", "sqlite:///reports.db", base, args.rows,
                                                          args.repeat))
        if args.backend in ("postgres", "both"):
            with postgres_database() as url:
                figures["postgres"] = asyncio.run(bench_backend("postgres", url, base, args.rows, args.repeat))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

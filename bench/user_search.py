"""How fast the management portal finds a user among 100,000.

Fills a fresh store with ``--users`` users (default 100,000), each with a
name, a first and last name, an E.164 mobile number and an e-mail address,
then times ``Store.search_users`` — what the portal's Users page awaits for
its search box — ``--queries`` times (default 300) for each kind of query:
the start of a name, of a mobile number (as typed: ``+49 151``), of an
e-mail address, and a miss. Each query is a different prefix taken from the
users written (two to six characters, so some match thousands and others a
few). Prints p50 and p99 per kind and the plan of one statement each
(``EXPLAIN QUERY PLAN`` on SQLite, ``EXPLAIN`` on PostgreSQL after an
``ANALYZE``). Both backends by default (``--backend sqlite|postgres`` for
one); PostgreSQL in a throwaway database on ``RADMFA_TEST_POSTGRES_URL``,
dropped afterwards. Not a test: the target
(p99 < 200 ms) lives in docs/benchmarks.md, "User search".

    PYTHONPATH=. .venv/bin/python -m bench.user_search [--users N] [--queries N]
        [--backend sqlite|postgres|both] [--out FILE.json]

The users are written with the statement ``add_user`` sends (same columns,
same name keys), 10,000 to a transaction: through the API one at a time the
load alone would take minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.reports import explain, postgres_database
from radmfa.core.admin_ports import Store
from radmfa.core.policy import name_key
from radmfa.store import open_store

BATCH = 10_000
LIMIT = 50  # the portal's SEARCH_LIMIT
_FIRST = (
    "Anna Ben Carla David Elif Felix Greta Hannah Ivan Jana Jonas Julia Karl Lea Leon Lukas Marie Mark Martin "
    "Mia Noah Olga Paul Petra Ralf Sara Simon Sofia Thomas Tim Ute Vera Wolf Yusuf Zoe Ahmet Chen Maria Jose "
    "John Mary James Linda Michael Barbara Robert Susan William Karen Priya Arjun Fatima Omar Kenji Yuki"
)
_LAST = (
    "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Koch Richter Klein Wolf "
    "Schröder Neumann Schwarz Zimmermann Braun Krüger Hofmann Hartmann Lange Schmitt Werner Krause Meier "
    "Lehmann Köhler Herrmann Walter König Mayer Huber Kaiser Fuchs Peters Lang Scholz Möller Weiß Jung Hahn "
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Nguyen Kim Patel Yilmaz Kaya "
    "Novak Horvat Kowalski Nowak Rossi Russo Ferrari Silva Santos Costa Dubois Martin Bernard Jansen Visser"
)
FIRST, LAST = _FIRST.split(), _LAST.split()
# Mobile prefixes by country, the number of digits that follow.
MOBILES = (("+49151", 8), ("+49160", 7), ("+49170", 7), ("+49176", 8), ("+1415", 7), ("+1646", 7),
           ("+4479", 8), ("+3361", 8), ("+41079", 7), ("+4366", 8))
DOMAINS = ("corp.example", "example.com", "sub.corp.example", "partner.example.org")


def people(count: int, seed: int = 14) -> list[tuple[str, str, str, str, str]]:
    """(login name, first name, last name, mobile, e-mail) for ``count`` users, all distinct."""
    rnd = random.Random(seed)
    out, names, mobiles = [], set(), set()
    while len(out) < count:
        first, last = rnd.choice(FIRST), rnd.choice(LAST)
        base = f"{first[0]}{last}".lower()
        name = base
        n = 1
        while name in names:
            n += 1
            name = f"{base}{n}"
        names.add(name)
        prefix, digits = rnd.choice(MOBILES)
        mobile = prefix + "".join(rnd.choice("0123456789") for _ in range(digits))
        while mobile in mobiles:
            mobile = prefix + "".join(rnd.choice("0123456789") for _ in range(digits))
        mobiles.add(mobile)
        email = f"{first}.{last}{'' if n == 1 else n}@{rnd.choice(DOMAINS)}".lower()
        out.append((name, first, last, mobile, email))
    return out


def as_typed(number: str, rnd: random.Random) -> str:
    """A mobile prefix the way someone types it: ``+49 151 23``, ``0049…`` is not E.164 and not searched."""
    cut = number[: rnd.randint(4, 9)]
    return f"{cut[:3]} {cut[3:]}" if rnd.random() < 0.5 and len(cut) > 4 else cut


def queries(users: list[tuple[str, str, str, str, str]], n: int, seed: int = 15) -> dict[str, list[str]]:
    rnd = random.Random(seed)
    picks = [rnd.choice(users) for _ in range(n)]
    return {
        "name prefix": [u[0][: rnd.randint(2, 6)] for u in picks],
        "phone prefix": [as_typed(u[3], rnd) for u in picks],
        "e-mail prefix": [u[4][: rnd.randint(3, 12)] for u in picks],
        # Letters no generated name or address starts with, and numbers no country has.
        "miss": [rnd.choice(("qx", "zzy", "xq.", "+999", "+8887")) + str(rnd.randint(0, 9999)) for _ in picks],
    }


async def fill(store: Store, users: list[tuple[str, str, str, str, str]]) -> None:
    insert = ("INSERT INTO users (name, name_key, email, mobile, first_name, last_name, created_at, state, "
              "push_enrolled) VALUES (?, ?, ?, ?, ?, ?, ?, 'enabled', 0)")
    now = time.time()
    for i in range(0, len(users), BATCH):
        rows = [(name, name_key(name), email, mobile, first, last, now)
                for name, first, last, mobile, email in users[i : i + BATCH]]
        await store._execute_many(insert, rows)  # type: ignore[attr-defined]


async def bench_backend(name: str, url: str, base: Path, count: int, n: int) -> dict[str, Any]:
    store = await open_store(url, key_file=base / "bench.key", base_dir=base)
    try:
        users = people(count)
        started = time.perf_counter()
        await fill(store, users)
        load_s = time.perf_counter() - started
        print(f"{name}: {count:,} users written in {load_s:.1f} s", flush=True)
        if name == "postgres":
            await store._fetch("ANALYZE users")  # type: ignore[attr-defined]  # what autovacuum does soon after a load
        results: dict[str, Any] = {}
        for kind, texts in queries(users, n).items():
            for text in texts[:20]:  # warm the caches, as a portal that has been up a while has them
                await store.search_users(text, limit=LIMIT)
            times, found = [], []
            for text in texts:
                t0 = time.perf_counter()
                rows = await store.search_users(text, limit=LIMIT)
                times.append(time.perf_counter() - t0)
                found.append(len(rows))
            p50, p99 = statistics.median(times), _percentile(times, 0.99)
            plan = await explain(store, name, _search(store, texts[0]))
            results[kind] = {"queries": len(times), "p50_ms": p50 * 1000, "p99_ms": p99 * 1000,
                             "max_ms": max(times) * 1000, "mean_found": statistics.mean(found),
                             "full_pages": sum(1 for f in found if f == LIMIT), "example": texts[0], "plan": plan}
            print(f"  {kind:14} p50 {p50 * 1000:6.2f} ms  p99 {p99 * 1000:6.2f} ms  max {max(times) * 1000:6.2f} ms"
                  f"  (found {statistics.mean(found):.1f} on average; {results[kind]['full_pages']} of {len(times)}"
                  f" queries filled the page of {LIMIT}; e.g. {texts[0]!r})", flush=True)
            for line in plan:
                print(f"      {line}")
        return {"users": count, "load_s": load_s, "searches": results}
    finally:
        await store.close()


def _search(store: Store, text: str) -> Callable[[], Any]:
    async def run() -> int:
        return len(await store.search_users(text, limit=LIMIT))

    return run


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench.user_search", description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--users", type=int, default=100_000)
    p.add_argument("--queries", type=int, default=300, help="per kind of query")
    p.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    p.add_argument("--out", type=Path, help="also write the figures as JSON")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    figures: dict[str, Any] = {"when": datetime.now(UTC).isoformat(timespec="seconds")}
    with tempfile.TemporaryDirectory(prefix="radmfa-bench-search-") as tmp:
        base = Path(tmp)
        if args.backend in ("sqlite", "both"):
            figures["sqlite"] = asyncio.run(bench_backend("sqlite", "sqlite:///search.db", base, args.users,
                                                          args.queries))
        if args.backend in ("postgres", "both"):
            with postgres_database() as url:
                figures["postgres"] = asyncio.run(bench_backend("postgres", url, base, args.users, args.queries))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

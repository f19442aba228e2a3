"""The ``postgres`` scenario: TOTP logins with the PostgreSQL store.

Every multi-node site runs on PostgreSQL, so its figure is published beside
SQLite's, measured in the same run. A throwaway database is created on the
PostgreSQL server the tests use (``RADMFA_TEST_POSTGRES_URL``, default the
local server as the postgres user), ``POSTGRES_USERS`` TOTP users are
enrolled through the Store API, and complete two-step TOTP logins are run
closed loop, as in ``totp_login``:

* ``postgres_totp_logins_per_s``: one radmfa, ``workers`` as given;
* ``postgres_to_sqlite_ratio``: that / ``totp_logins_per_s`` of the same run;
* in the JSON, the same with ``workers = 2`` and with two radmfa nodes on the
  one database, each sent half the logins.

The database is dropped on the way out.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
from tests.peers.ports import free_udp_port

from bench import loadgen
from bench.loadgen import Job
from bench.stack import NAS_SECRET, SEED_CONCURRENCY, Radmfa
from bench.users import Population, ensure_users, seed_for
from radmfa.core.model import NewToken, NewUser
from radmfa.store import open_store

if TYPE_CHECKING:
    from bench.scenarios import Bench

ADMIN_URL = os.environ.get("RADMFA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
POSTGRES_USERS = 20_000  # quick: 10,000


def _with_database(url: str, name: str) -> str:
    head, _, _ = url.rpartition("/")
    return f"{head}/{name}"


@dataclass
class PostgresRadmfa(Radmfa):
    """A radmfa on the PostgreSQL store, otherwise configured like the benchmark's."""

    store_url: str = ""

    def write_config(self) -> None:
        super().write_config()
        text = self.config_path.read_text().replace('url = "sqlite:///radmfa.db"', f'url = "{self.store_url}"')
        self.config_path.write_text(text)


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(ADMIN_URL, timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _seed(url: str, workdir: Path, users: int) -> None:
    store = await open_store(url, key_file=Path("radmfa.key"), base_dir=workdir)

    async def enrol(i: int) -> None:
        await store.add_user(NewUser(f"u{i}"))
        await store.add_token(f"u{i}", NewToken("totp", seed_for(i), label="bench"))

    try:
        await store.migrate()
        for start in range(0, users, SEED_CONCURRENCY):
            await asyncio.gather(*(enrol(i) for i in range(start, min(users, start + SEED_CONCURRENCY))))
    finally:
        await store.close()


def _logins(b: Bench, nodes: list[Radmfa], population: Population) -> tuple[float, dict[str, Any]]:
    s = b.settings
    jobs = [Job("totp", node.address, NAS_SECRET.encode(), processes=max(1, s.processes // len(nodes)),
                duration_s=s.run_s, window=s.window) for node in nodes]
    ensure_users(population, 3000.0, s.run_s + 1.5)
    pids = {f"radmfa{i}": node.pid for i, node in enumerate(nodes)}
    meter = b.meter(pids)
    outs = loadgen.run_together(jobs, population) if len(jobs) > 1 else [loadgen.run(jobs[0], population)]
    shares = meter.shares()
    rate = sum(out.rate for out in outs)
    keys = ("logins", "started", "rejected", "lost", "bad", "stalled_s")
    return rate, {"per_s": round(rate, 1), "nodes": [{k: getattr(o, k) for k in keys} for o in outs], **shares}


def postgres(b: Bench) -> None:
    s = b.settings
    users = 10_000 if s.quick else POSTGRES_USERS
    name = "radmfa_bench_" + secrets.token_hex(4)
    url = _with_database(ADMIN_URL, name)
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    details: dict[str, Any] = {"users": users, "database": "PostgreSQL at " + ADMIN_URL.rpartition("@")[2]}
    try:
        t0 = time.perf_counter()
        asyncio.run(_seed(url, b.workdir, users))
        details["seed_s"] = round(time.perf_counter() - t0, 1)
        population = Population(users)
        for label, workers, count in (("one_node", s.workers, 1), ("one_node_two_workers", 2, 1),
                                      ("two_nodes", s.workers, 2)):
            nodes = [PostgresRadmfa(b.workdir, f"radmfa-pg{i}", free_udp_port(), b.upstream.address, workers,
                                    store_url=url) for i in range(count)]
            try:
                for node in nodes:
                    node.start()
                rate, run = _logins(b, nodes, population)
            finally:
                for node in nodes:
                    node.stop()
            details[label] = {"workers": workers, "nodes": count, **run}
            if label == "one_node":
                b.results["postgres_totp_logins_per_s"] = round(rate, 1)
                sqlite = b.results.get("totp_logins_per_s")
                b.results["postgres_to_sqlite_ratio"] = round(rate / sqlite, 3) if sqlite else None
    finally:
        b.details["postgres"] = details
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

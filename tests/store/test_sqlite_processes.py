"""SQLite shared by real worker processes, as with SO_REUSEPORT.

The contract suite races two stores inside one process; here separate
processes race, so only SQLite's file locking stands between them.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from radmfa.core.model import NewToken, NewUser, Session
from radmfa.store import open_store

WORKERS = 4
TRIES = 10
NOW = datetime(2030, 1, 1, tzinfo=UTC)


async def _race(base_dir: Path, token_id: int) -> tuple[int, int]:
    store = await open_store("sqlite:///w.db", key_file=Path("k"), base_dir=base_dir)
    try:
        steps = [store.consume_otp_step(token_id, 42) for _ in range(TRIES)]
        takes = [store.take_session(b"S" * 16, now=NOW) for _ in range(TRIES)]
        results = await asyncio.gather(*steps, *takes)
    finally:
        await store.close()
    return results[:TRIES].count(True), sum(r is not None for r in results[TRIES:])


def _worker(base_dir: Path, token_id: int, barrier: Any, out: Any) -> None:
    barrier.wait()  # start together so the statements really overlap
    out.put(asyncio.run(_race(base_dir, token_id)))


async def test_one_winner_across_processes(tmp_path: Path) -> None:
    store = await open_store("sqlite:///w.db", key_file=Path("k"), base_dir=tmp_path)
    try:
        await store.add_user(NewUser("alice"))
        token_id = (await store.add_token("alice", NewToken("totp", b"s" * 20))).id
        session = Session(b"S" * 16, "vpn1", b"alice", "totp", 0, NOW + timedelta(minutes=1))
        await store.put_session(session)
    finally:
        await store.close()

    ctx = multiprocessing.get_context("spawn")  # no forked event loop or threads
    barrier, out = ctx.Barrier(WORKERS), ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(tmp_path, token_id, barrier, out)) for _ in range(WORKERS)
    ]
    for proc in procs:
        proc.start()
    results = [await asyncio.to_thread(out.get, timeout=60) for _ in procs]
    for proc in procs:
        await asyncio.to_thread(proc.join, 10)
        assert proc.exitcode == 0
    assert sum(steps for steps, _ in results) == 1
    assert sum(takes for _, takes in results) == 1

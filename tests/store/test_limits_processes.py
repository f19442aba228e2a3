"""Send limits counted by real worker processes sharing one SQLite file
(SO_REUSEPORT workers): only SQLite's locking stands between them."""

from __future__ import annotations

import asyncio
import multiprocessing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from radmfa.config import LimitsConfig, MethodLimit
from radmfa.core import limits
from radmfa.store import open_store
from tests.fakes.ports import RecordingLog

LOG = RecordingLog()  # the core's log lines (EventLog)
WORKERS = 4
TRIES = 10
NOW = datetime(2030, 1, 1, tzinfo=UTC)
SETTINGS = LimitsConfig(voice=MethodLimit(per_user=7, per_hour=0))


async def _race(base_dir: Path) -> int:
    store = await open_store("sqlite:///w.db", key_file=Path("k"), base_dir=base_dir)
    try:
        results = await asyncio.gather(*(
            limits.allow_send(store, SETTINGS, user="alice", method="voice", now=NOW, log=LOG) for _ in range(TRIES)
        ))
    finally:
        await store.close()
    return sum(r is None for r in results)


def _worker(base_dir: Path, barrier: Any, out: Any) -> None:
    barrier.wait()  # start together so the statements really overlap
    out.put(asyncio.run(_race(base_dir)))


async def test_exactly_the_limit_across_processes(tmp_path: Path) -> None:
    store = await open_store("sqlite:///w.db", key_file=Path("k"), base_dir=tmp_path)
    await store.close()  # created and migrated once, before the race

    ctx = multiprocessing.get_context("spawn")  # no forked event loop or threads
    barrier, out = ctx.Barrier(WORKERS), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(tmp_path, barrier, out)) for _ in range(WORKERS)]
    for proc in procs:
        proc.start()
    allowed = [await asyncio.to_thread(out.get, timeout=60) for _ in procs]
    for proc in procs:
        await asyncio.to_thread(proc.join, 10)
        assert proc.exitcode == 0
    assert sum(allowed) == 7

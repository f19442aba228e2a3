"""The benchmark's load generator: processes of jobs run together on one
population never log in as the same user (the replay guard would refuse the
second of two logins in one TOTP step, counted as a reject)."""

from __future__ import annotations

import multiprocessing
import queue
import time
from typing import Any

from bench.loadgen import Generator, Job, processes_of
from bench.users import Population

PICKS = 15_000


def _pick(job: Job, population: Population, index: int, slot: int | None, slots: int | None, results: Any) -> None:
    generator = Generator(job, population, index, slot, slots)
    generator.end = time.monotonic() + 60.0
    picked = []
    for _ in range(PICKS):
        user = generator.pick_user(time.monotonic())
        if user is None:
            break
        picked.append(user)
    generator.close()
    results.put(picked)


def _node(kind: str = "totp", processes: int = 1) -> Job:
    return Job(kind, ("127.0.0.1", 9), b"secret", processes=processes, sockets=1)


def test_two_nodes_jobs_get_their_own_users_and_cursors() -> None:
    population = Population(4 * PICKS)
    jobs = [_node(), _node()]
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    procs = [ctx.Process(target=_pick, args=(jobs[n], population, i, slot, slots, results), daemon=True)
             for n, i, slot, slots in processes_of(jobs)]
    for p in procs:
        p.start()
    try:
        picked = [results.get(timeout=120.0) for _ in procs]
    except queue.Empty:
        raise AssertionError("a picking process did not report") from None
    finally:
        for p in procs:
            p.join(timeout=30.0)
    assert [len(p) for p in picked] == [PICKS, PICKS]
    assert not set(picked[0]) & set(picked[1])


def test_slots_count_only_the_jobs_that_log_in_as_the_population() -> None:
    jobs = [_node("pass", 2), _node("totp", 2), _node("inline", 1)]
    assert processes_of(jobs) == [(0, 0, None, None), (0, 1, None, None), (1, 0, 0, 3), (1, 1, 1, 3), (2, 0, 2, 3)]
    population = Population(30)
    users = []
    for n, i, slot, slots in processes_of(jobs):
        if slot is not None:
            generator = Generator(jobs[n], population, i, slot, slots)
            generator.close()
            users.append(set(generator.my_users))
    assert set().union(*users) == set(range(30))
    assert sum(len(u) for u in users) == 30

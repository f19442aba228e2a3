"""The PostgreSQL server's CPU per store call on a login's path.

    PYTHONPATH=server:. .venv/bin/python -m bench.pg_calls [--calls 300] [--rounds 5] [--at-once 1]

On a throwaway database of the tests' PostgreSQL server
(``RADMFA_TEST_POSTGRES_URL``), this process calls the store as a login
does: the login read, a challenge session written (put_session), a challenge
answered in one statement (claim_code), an inline code's step with its MFA
success (consume_otp_step), and audit rows written 40 to a batch. For each
call it counts the CPU time the server's backends serving the store ran for
(the kernel's per-process count, /proc/<pid>/schedstat: the server must run
on this machine), per call; ``--at-once`` callers share the pool. Each round
runs every call in turn; the figure is the median over the rounds. It is
time, not instructions (this machine has no instruction counter for a
process it did not start): compare runs made one after the other.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.postgres_store import ADMIN_URL, _admin, _seed, _with_database  # noqa: E402

AUDIT_BATCH = 40


def _cpu_ns(pids: list[int]) -> int:
    return sum(int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) for pid in pids)


async def _measure(url: str, workdir: Path, calls: int, rounds: int, at_once: int) -> dict[str, Any]:
    from radmfa.core.model import AuditRecord, Claimed, CodeClaim, MfaSuccess, Session
    from radmfa.store import open_store

    store: Any = await open_store(url, key_file=Path("radmfa.key"), base_dir=workdir)
    now = datetime.now(UTC)
    users = calls * at_once
    views = [await store.login_view(f"u{i}") for i in range(users)]
    step = int(time.time()) // 30 + 10**6  # steps no code of now uses, one more each round
    record = AuditRecord(now, "2d03-4b0", "bench", "127.0.0.1", "u1", "", "totp", "accept", "password and code", 8.19)

    def session(state: bytes) -> Session:
        return Session(state, "bench", b"u1", "totp", 0, now + timedelta(minutes=5))

    async def claim(state: bytes, i: int) -> None:
        user, tokens = views[i]
        success = MfaSuccess(user.id, (), "", "bench", now)
        claimed = await store.claim_code(CodeClaim(state, user.id, user.state, tokens[0].id, step, 5,
                                                   now - timedelta(minutes=15), success))
        if claimed is not Claimed.ACCEPTED:
            raise RuntimeError(f"claim_code: {claimed}, not accepted")

    async def consume(i: int) -> None:
        user, tokens = views[i]
        if not await store.consume_otp_step(tokens[0].id, step + 1, success=MfaSuccess(user.id, (), "", "bench", now)):
            raise RuntimeError("consume_otp_step: the step was not taken")

    out: dict[str, list[float]] = {}
    states: list[bytes] = []

    async def run(name: str, call: Callable[[int], Awaitable[object]], n: int, per: int = 1) -> None:
        async def caller(k: int) -> None:
            for i in range(n):
                await call(k * n + i)

        async with asyncio.TaskGroup() as tasks:  # the pool's connections leased before counting
            for _ in range(at_once):
                tasks.create_task(store._fetch("SELECT pg_sleep(0.01)"))
        pids = []
        for conn in store._idle:
            pids.append(await conn.fetchval("SELECT pg_backend_pid()"))
        before = _cpu_ns(pids)
        async with asyncio.TaskGroup() as tasks:
            for k in range(at_once):
                tasks.create_task(caller(k))
        out.setdefault(name, []).append((_cpu_ns(pids) - before) / (n * at_once * per) / 1000)

    try:
        for _ in range(rounds):
            step += 2  # claim_code takes step, consume_otp_step step + 1
            states[:] = [secrets.token_bytes(16) for _ in range(users)]  # fresh States each round
            await run("login_exemption_view", lambda i: store.login_exemption_view(
                f"u{i}", scopes=[], station="", client="bench", now=now), calls)
            await run("put_session", lambda i: store.put_session(session(states[i])), calls)
            await run("claim_code", lambda i: claim(states[i], i), calls)
            await run("consume_otp_step", consume, calls)
            await run("audit row", lambda i: store.write_audit([record] * AUDIT_BATCH),
                      max(1, calls // AUDIT_BATCH), AUDIT_BATCH)
    finally:
        await store.close()
    return {name: {"server_cpu_us_per_call": round(statistics.median(v), 1),
                   "rounds": " ".join(f"{x:.0f}" for x in v)} for name, v in out.items()}


def measure(calls: int, rounds: int, at_once: int) -> dict[str, Any]:
    import uvloop

    workdir = Path(tempfile.mkdtemp(prefix="radmfa-pgcalls-"))
    name = "radmfa_calls_" + secrets.token_hex(4)
    url = _with_database(ADMIN_URL, name)
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        asyncio.run(_seed(url, workdir, calls * at_once))
        return uvloop.run(_measure(url, workdir, calls, rounds, at_once))
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=300, help="calls of each kind per caller and round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--at-once", type=int, default=1, help="callers at once (at most the pool's size)")
    args = p.parse_args(argv)
    print(json.dumps(measure(args.calls, args.rounds, args.at_once), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What one audit row costs, part by part, in instructions (callgrind).

    PYTHONPATH=server .venv/bin/python -m bench.audit_write                  # about a minute
    PYTHONPATH=server .venv/bin/python -m bench.audit_write --drop audit_factor,audit_result

Per row, in one process: the listener's ``_audit`` on the event loop (a
stub sink store, logging above info), the row object built and queued, and
``write_audit`` into a scratch SQLite database migrated to the current
schema (its second batch: the first pays for growing a new file), with its
Python parts alone (values, daily counts). ``--drop`` removes indexes from
the scratch database first: what each costs the insert. Rows carry no phone,
as a proxied request's do. Load-independent; docs/benchmarks.md, "The audit row".
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# write_audit is counted over this many batches: SQLite checkpoints its WAL
# every 1,000 pages, inside whichever commit crosses that, so one batch's
# count depends on where it falls.
BATCHES = 5
sys.path.insert(0, str(REPO))

from bench.stages import _cg_library, _cg_totals  # noqa: E402


def _rows(n: int, start: int) -> list[Any]:
    from radmfa.core.model import AuditRecord

    t0 = datetime(2026, 12, 3, 8, tzinfo=UTC)
    return [
        AuditRecord(t0 + timedelta(milliseconds=10 * (start + i)), f"r-{start + i:x}", f"vpn{i % 3}",
                    f"10.0.0.{i % 200}", f"user{(start + i) % 5000}", "", ("totp", "none", "push")[i % 3],
                    ("accept", "reject", "challenge")[i % 3], "ok", 1.25, "", "", "", "", "",
                    f"10.1.2.{i % 250}", "node1", "10.0.0.1")
        for i in range(n)
    ]


async def _child(workdir: Path, n: int, drop: list[str], lib: Path) -> None:
    import radmfa.service.audit as audit_mod
    from radmfa.config import AuditConfig
    from radmfa.core.model import AuditRecord, AuthRequest, Decision, Verdict
    from radmfa.service.audit import AuditSink
    from radmfa.service.radius import RadiusService
    from radmfa.store import open_store
    from radmfa.store.sql_audit import AuditSql, daily_counts

    cg = ctypes.CDLL(str(lib))
    store = await open_store("sqlite:///radmfa.db", key_file=workdir / "k", base_dir=workdir)
    try:
        db = sqlite3.connect(workdir / "radmfa.db", isolation_level=None)
        for index in drop:
            db.execute(f"DROP INDEX {index}")
        db.close()
        await store.write_audit(_rows(n, 0))
        batches = [_rows(n, (k + 1) * n) for k in range(BATCHES)]
        cg.radmfa_cg_zero()
        for batch in batches:
            await store.write_audit(batch)
        cg.radmfa_cg_dump(b"write_audit")
        cg.radmfa_cg_zero()
        values = AuditSql._audit_values(batch)
        cg.radmfa_cg_dump(b"values")
        cg.radmfa_cg_zero()
        daily_counts(values)
        cg.radmfa_cg_dump(b"daily counts")
    finally:
        await store.close()

    class Stub:
        async def write_audit(self, rows: Any) -> None: ...

    class Transport:
        def get_extra_info(self, name: str) -> Any:
            return ("10.0.0.9", 1812)

    class Policy:
        user_ip_attribute = "source"

    class Policies:
        def policy_for(self, name: str) -> Any:
            return Policy

    class Client:
        name = "vpn"

    audit_mod._audit_events = False  # logging above info, as bench.stages runs
    service: Any = RadiusService.__new__(RadiusService)
    service.audit = AuditSink(Stub(), settings=AuditConfig(), batch=10**9)  # type: ignore[arg-type]
    service.policies, service._server_ips, service._user_ips, service.node_ip = Policies(), {}, {}, "10.0.0.9"
    request = AuthRequest("r-1", "vpn", "10.0.0.1", b"user1", None, None, "", b"a" * 16, ())
    decision = Decision(Verdict.ACCEPT, "upstream accept")
    transport, client, addr, started = Transport(), Client(), ("10.0.0.1", 5000), time.perf_counter()
    for _ in range(50):
        service._audit(request, client, addr, transport, decision, started, "accept")
    cg.radmfa_cg_zero()
    for _ in range(n):
        service._audit(request, client, addr, transport, decision, started, "accept")
    cg.radmfa_cg_dump(b"_audit on the loop")
    sink = AuditSink(Stub(), batch=10**9)  # type: ignore[arg-type]
    record, now = sink.record, datetime.now
    cg.radmfa_cg_zero()
    for _ in range(n):
        record(AuditRecord(now(UTC), "r-1", "vpn", "10.0.0.1", "user1", "", "none", "accept", "upstream accept",
                           1.0, "", "", "", "", "", "10.0.0.1", "", "10.0.0.9"))  # as the listener builds it
    cg.radmfa_cg_dump(b"row built and queued")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=2000, help="rows a batch (and calls of _audit)")
    p.add_argument("--drop", default="", help="indexes to drop from the scratch database, comma-separated")
    p.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    drop = [name for name in args.drop.split(",") if name]
    if args.child:
        asyncio.run(_child(args.child, args.rows, drop, args.child / "cg.so"))
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="radmfa-audit-cg-"))
    try:
        _cg_library(workdir)
        out = workdir / "cg.out"
        child = subprocess.run(  # noqa: S603
            ["valgrind", "--tool=callgrind", "--collect-atstart=yes", f"--callgrind-out-file={out}",  # noqa: S607
             sys.executable, "-m", "bench.audit_write", "--child", str(workdir), "--rows", str(args.rows),
             "--drop", args.drop],
            check=False, cwd=REPO, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=3600,
        )
        if child.returncode != 0:
            raise RuntimeError(f"the run under callgrind failed:\n{child.stderr[-3000:]}")
        for path in sorted(workdir.glob("cg.out.*"), key=lambda q: int(q.name.rsplit(".", 1)[1])):
            text = path.read_text(errors="replace")
            name = next((ln.rpartition("Client Request: ")[2].strip() for ln in text.splitlines()
                         if "Client Request: " in ln), "")
            if name:
                rows = args.rows * (BATCHES if name == "write_audit" else 1)
                print(f"{name}: {_cg_totals(path) // rows:,} instructions per row")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

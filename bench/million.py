"""RSS with 1,000,000 enrolled users: does anything in radmfa grow with the
size of the user store rather than with the traffic?

A store of its own is built: ``u0`` enrolled through the Store API (schema,
key, the rows a real enrolment writes), then ``u1`` … ``u{N-1}`` written as
copies of those rows in bulk, each token with its own seed sealed by the same
key and bound to its own row id, exactly as ``add_token`` seals it. Enrolling
a million users through the API one by one would take most of an hour here;
the rows are the same. A radmfa of its own then serves inline logins spread
over the whole population (every login a different user) and its RSS is read
before and after.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from tests.peers.ports import free_udp_port

from bench import loadgen
from bench.loadgen import Job
from bench.scenarios import Bench, _summary
from bench.stack import NAS_SECRET, Radmfa, seed, write_clients
from bench.users import Population, seed_for
from radmfa.core.policy import name_key
from radmfa.store.seeds import SeedCipher
from radmfa.store.sql_users import _token_aad

BATCH = 50_000


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [str(row[1]) for row in conn.execute(f"PRAGMA table_info({table})")]


def _template(conn: sqlite3.Connection, table: str, where: str, arg: object) -> dict[str, Any]:
    cols = _columns(conn, table)
    row = conn.execute(f"SELECT {', '.join(cols)} FROM {table} WHERE {where} = ?", (arg,)).fetchone()  # noqa: S608
    if row is None:
        raise RuntimeError(f"no {table} row for {arg!r} to copy")
    return dict(zip(cols, row, strict=True))


def clone_users(workdir: Path, total: int) -> None:
    """Add ``u1`` … ``u{total-1}``, each with a TOTP token, as copies of ``u0``'s rows."""
    cipher = SeedCipher.from_file(workdir / "radmfa.key", create=False)
    conn = sqlite3.connect(workdir / "radmfa.db", isolation_level=None)
    try:
        user = _template(conn, "users", "name", "u0")
        token = _template(conn, "tokens", "user_id", user["id"])
        next_user = int(conn.execute("SELECT MAX(id) FROM users").fetchone()[0]) + 1
        next_token = int(conn.execute("SELECT MAX(id) FROM tokens").fetchone()[0]) + 1
        ucols, tcols = list(user), list(token)
        insert_user = f"INSERT INTO users ({', '.join(ucols)}) VALUES ({', '.join('?' * len(ucols))})"  # noqa: S608
        insert_token = f"INSERT INTO tokens ({', '.join(tcols)}) VALUES ({', '.join('?' * len(tcols))})"  # noqa: S608
        for start in range(1, total, BATCH):
            users, tokens = [], []
            for i in range(start, min(total, start + BATCH)):
                uid, tid = next_user + i - 1, next_token + i - 1
                name = f"u{i}"
                users.append(tuple({**user, "id": uid, "name": name, "name_key": name_key(name)}.values()))
                sealed = cipher.encrypt(seed_for(i), context=_token_aad(tid))
                tokens.append(tuple({**token, "id": tid, "user_id": uid, "secret_enc": sealed}.values()))
            conn.execute("BEGIN")
            conn.executemany(insert_user, users)
            conn.executemany(insert_token, tokens)
            conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def scenario(b: Bench) -> None:
    s = b.settings
    total = s.million_users
    workdir = b.workdir / "million"
    workdir.mkdir()
    write_clients(workdir)
    started = time.perf_counter()
    seed(workdir, 1)
    clone_users(workdir, total)
    built_s = time.perf_counter() - started
    node = Radmfa(workdir, "million", free_udp_port(), b.upstream.address, s.workers).start()
    try:
        fresh = node.memory()
        job = Job("inline", node.address, NAS_SECRET.encode(), processes=s.processes,
                  duration_s=s.run_s, window=s.window)
        out = loadgen.run(job, Population(total))
        after = node.memory()
    finally:
        node.stop()
    db_mb = sum(p.stat().st_size for p in workdir.glob("radmfa.db*")) / 2**20
    b.results["rss_mb_1m_users"] = round(after["rss_mb"], 1) if total >= 1_000_000 else None
    b.details["million_users"] = {
        "enrolled": total, "store_built_s": round(built_s, 1), "store_mb": round(db_mb, 1),
        "rss_mb_fresh": round(fresh["rss_mb"], 1), "rss_mb_after": round(after["rss_mb"], 1),
        "peak_rss_mb": round(after["hwm_mb"], 1), "processes": after["processes"],
        **_summary(out, {}),
    }

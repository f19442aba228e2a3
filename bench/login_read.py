"""A login's one read alone, in instructions: ``login_exemption_view`` on the
real SqliteStore, for a user radmfa does not know, for a known user read for
the first time (the User and Token built) and for the same user read again
(its rows unchanged: the built objects reused).

    PYTHONPATH=server:. .venv/bin/python -m bench.login_read            # 300 reads a case, about two minutes

A database of 3 N users with a TOTP token each is made first; then the reads
run under valgrind's callgrind (the calling thread only), each case between
a zero and a dump of the counters. On SQLite the read completes without
suspending, so its coroutine is driven by one ``send(None)``: no event loop
in the counts.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.stages import _cg_library, _cg_totals  # noqa: E402

CASES = ("unknown", "known_first", "known_again")


async def _seed(workdir: Path, n: int) -> None:
    from radmfa.core.model import NewToken, NewUser
    from radmfa.store import open_store

    store = await open_store("sqlite:///radmfa.db", key_file=workdir / "radmfa.key", base_dir=workdir)
    try:
        for i in range(3 * n):
            await store.add_user(NewUser(f"u{i}"))
            await store.add_token(f"u{i}", NewToken("totp", os.urandom(20), label="bench"))
    finally:
        await store.close()


async def _child(workdir: Path, n: int, lib: Path) -> None:
    from radmfa.store import open_store

    cg = ctypes.CDLL(str(lib))
    store: Any = await open_store("sqlite:///radmfa.db", key_file=workdir / "radmfa.key", base_dir=workdir)
    now = datetime.now(UTC)

    def read(name: str) -> object:
        coro = store.login_exemption_view(name, scopes=(), station="", client="nas", now=now)
        try:
            coro.send(None)
        except StopIteration as done:
            return done.value
        raise RuntimeError("the read suspended: no reader connection?")

    try:
        for i in range(20):  # warm up: statements prepared, caches made
            read(f"w{i}")
            read(f"u{2 * n + i}")
        for case, names in zip(CASES, ([f"p{i}" for i in range(n)], [f"u{i}" for i in range(n)],
                                       [f"u{i}" for i in range(n)]), strict=True):
            cg.radmfa_cg_zero()
            for name in names:
                read(name)
            cg.radmfa_cg_dump(case.encode())
    finally:
        await store.close()


def instructions(n: int) -> dict[str, int]:
    workdir = Path(tempfile.mkdtemp(prefix="radmfa-login-read-"))
    try:
        asyncio.run(_seed(workdir, n))
        lib = _cg_library(workdir)
        out = workdir / "cg.out"
        subprocess.run(  # noqa: S603
            ["valgrind", "--tool=callgrind", "--separate-threads=yes", f"--callgrind-out-file={out}",  # noqa: S607
             sys.executable, "-m", "bench.login_read", "--child", str(workdir), "--reads", str(n), "--lib", str(lib)],
            check=True, cwd=REPO, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=3600,
        )
        counts = {}
        for path in workdir.glob("cg.out.*-01"):  # 01: the calling thread's
            text = path.read_text(errors="replace")
            name = next((ln.rpartition("Client Request: ")[2].strip() for ln in text.splitlines()
                         if "Client Request: " in ln), "")
            if name in CASES:
                counts[name] = round(_cg_totals(path) / n)
        return {case: counts[case] for case in CASES}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reads", type=int, default=300, help="reads a case")
    p.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--lib", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        asyncio.run(_child(args.child, args.reads, args.lib))
        return
    for case, count in instructions(args.reads).items():
        print(f"{case:>12}: {count:,} instructions a read")


if __name__ == "__main__":
    main()

"""Process model: one event loop per process; N workers share the port.

With ``[radius] workers = N > 1`` the parent forks N children that each bind
the listen addresses with SO_REUSEPORT; the kernel spreads NAS flows across
them by source address and port, so a NAS's retransmissions reach the worker
holding its duplicate cache. Everything else they share lives in the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import traceback
from pathlib import Path

from radmfa.config import Config
from radmfa.errors import RadmfaError
from radmfa.service import metrics
from radmfa.service.app import serve


def loop_policy() -> str:
    """Use uvloop, a dependency of the package, when it imports; else asyncio's
    own loop (no wheel for the platform). Returns the name of the loop chosen."""
    try:
        import uvloop
    except ImportError:
        asyncio.set_event_loop_policy(None)
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"


def run_single(cfg: Config, *, reuse_port: bool = False) -> int:
    # Until the event loop installs its handler, a reload must not kill us.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    loop_policy()
    asyncio.run(serve(cfg, reuse_port=reuse_port))
    return 0


def _child(cfg: Config) -> int:
    try:
        return run_single(cfg, reuse_port=True)
    except RadmfaError as e:
        print(f"radmfa: error: {e}", file=sys.stderr)
    except BaseException:
        traceback.print_exc()
    return 1


def run_workers(cfg: Config) -> int:
    """Fork the workers; if one dies unexpectedly, stop the rest and exit
    non-zero so systemd's Restart= brings the whole service back."""
    n = cfg.radius.workers
    shared = metrics.prepare(cfg)  # the workers' metric files, before any is forked
    if n <= 1:
        return run_single(cfg)
    try:
        return _fork_workers(cfg, n, shared)
    finally:
        metrics.finished(shared, cfg)


def _fork_workers(cfg: Config, n: int, shared: Path | None) -> int:
    children: set[int] = set()
    stopping = False
    for _ in range(n):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = _child(cfg)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        children.add(pid)

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        if signum != signal.SIGHUP:
            stopping = True
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    status = 0
    while children:
        pid, code = os.wait()
        children.discard(pid)
        metrics.worker_exited(shared, pid)
        exit_code = os.waitstatus_to_exitcode(code)
        if exit_code not in (0, -signal.SIGTERM, -signal.SIGINT) or not stopping:
            status = status or 1
            if not stopping:
                print(f"radmfa: worker {pid} exited ({exit_code}); stopping the others", file=sys.stderr)
                forward(signal.SIGTERM, None)
    sys.stdout.flush()
    return status

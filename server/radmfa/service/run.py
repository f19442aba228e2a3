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

from radmfa.config import Config
from radmfa.service.app import serve


def _loop_policy() -> None:
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def run_single(cfg: Config, *, reuse_port: bool = False) -> int:
    _loop_policy()
    asyncio.run(serve(cfg, reuse_port=reuse_port))
    return 0


def run_workers(cfg: Config) -> int:
    n = cfg.radius.workers
    if n <= 1:
        return run_single(cfg)
    children: list[int] = []
    for _ in range(n):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = run_single(cfg, reuse_port=True)
            finally:
                os._exit(code)
        children.append(pid)

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    status = 0
    for child in children:
        _, code = os.waitpid(child, 0)
        status = status or os.waitstatus_to_exitcode(code)
    sys.stdout.flush()
    return 0 if status in (0, -signal.SIGTERM, -signal.SIGINT) else 1

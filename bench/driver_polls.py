"""What radclient, the passthrough benchmark's driver, spends per request in each arm.

``radclient -p N`` waits for replies by polling: between sends it calls
``pselect6`` with a zero timeout over and over, so it is always runnable and
takes whatever CPU the server under test leaves on the machine. The slower the
server answers, the more empty polls radclient makes per request and the more
of the two cores it holds, which the server then does not get. This tool runs
the same radclient command as ``make bench``'s passthrough arms under
``perf stat`` (software events and syscall tracepoints, no sampling) against
radmfa and against the FreeRADIUS proxy, both in front of the same FreeRADIUS
upstream, and prints per request: radclient's CPU, its system calls and its
``pselect6`` calls, and the rate. The server under test is counted too, by a
second ``perf stat`` attached to its processes for the same run: its CPU
split into user and kernel time (``/proc/<pid>/stat``), its system calls and
its context switches per request.

    PYTHONPATH=server:. .venv/bin/python -m bench.driver_polls [--rounds 2] [--packets 20000]

Needs ``perf`` (Debian's linux-perf) allowed to count tracepoints
(``kernel.perf_event_paranoid`` <= 2 is enough for one's own processes).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.peers.freeradius import FreeRadius
from tests.peers.ports import free_udp_port

from bench.measure import RADCLIENT_TIMEOUT_S, median, radclient, write_packet_files
from bench.stack import NAS_SECRET, UPSTREAM_SECRET, Radmfa, children, write_clients

_ACCEPTED = re.compile(r"^\s*Accepted\s*:\s*(\d+)", re.MULTILINE)
EVENTS = ("task-clock", "raw_syscalls:sys_enter", "syscalls:sys_enter_pselect6")
SERVER_EVENTS = ("task-clock", "raw_syscalls:sys_enter", "context-switches")


def perf_counts(stderr: str, events: tuple[str, ...] = EVENTS) -> dict[str, float]:
    """``perf stat -x,`` lines (value,unit,event,...) → {event: value}; '<not counted>' left out."""
    counts = {}
    for line in stderr.splitlines():
        fields = line.split(",")
        if len(fields) >= 3 and fields[2] in events:
            try:
                counts[fields[2]] = float(fields[0])
            except ValueError:
                continue
    return counts


def user_system_s(pids: list[int]) -> tuple[float, float]:
    """User and kernel CPU seconds used so far by ``pids`` (all their threads; proc(5) utime, stime)."""
    user = system = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        user += int(fields[11])
        system += int(fields[12])
    tick = os.sysconf("SC_CLK_TCK")
    return user / tick, system / tick


class ServerCount:
    """``perf stat`` attached to the server's processes around one radclient run."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.perf = subprocess.Popen(  # noqa: S603
            ["perf", "stat", "-x,", "-e", ",".join(SERVER_EVENTS), "-p", ",".join(map(str, pids))],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)  # perf attaches to every thread before the run starts (a tool, not a test)
        self.cpu0 = user_system_s(pids)

    def done(self, requests: int) -> dict[str, float]:
        user, system = (after - before for after, before in zip(user_system_s(self.pids), self.cpu0, strict=True))
        self.perf.send_signal(signal.SIGINT)
        _, err = self.perf.communicate(timeout=60)
        counts = perf_counts(err, SERVER_EVENTS)
        if len(counts) != len(SERVER_EVENTS):
            raise RuntimeError(f"perf stat -p {self.pids} failed:\n{err[-2000:]}")
        requests = requests or 1
        return {
            "server_user_us_per_request": round(user * 1e6 / requests, 1),
            "server_system_us_per_request": round(system * 1e6 / requests, 1),
            "server_syscalls_per_request": round(counts["raw_syscalls:sys_enter"] / requests, 2),
            "server_context_switches_per_request": round(counts["context-switches"] / requests, 3),
        }


def one_run(address: tuple[str, int], packets_file: Path, repeat: int, parallel: int,
            server_pids: list[int] | None = None) -> dict[str, float]:
    server = ServerCount(server_pids) if server_pids else None
    argv = ["perf", "stat", "-x,", "-e", ",".join(EVENTS),
            "radclient", "-q", "-s", "-p", str(parallel), "-c", str(repeat),
            "-t", str(RADCLIENT_TIMEOUT_S), "-r", "1", "-f", str(packets_file),
            f"{address[0]}:{address[1]}", "auth", NAS_SECRET]
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)  # noqa: S603
    wall = time.perf_counter() - started
    counts = perf_counts(done.stderr)
    if done.returncode != 0 or len(counts) != len(EVENTS):
        raise RuntimeError(f"perf stat radclient failed ({done.returncode}):\n{done.stderr[-2000:]}")
    found = _ACCEPTED.search(done.stdout)
    accepted = int(found.group(1)) if found else 0
    requests = accepted or 1
    own = server.done(accepted) if server is not None else {}
    return own | {
        "per_s": round(accepted / wall, 1),
        "accepted": accepted,
        "radclient_cpu_us_per_request": round(counts["task-clock"] * 1000 / requests, 1),  # task-clock is ms
        "radclient_cpus_used": round(counts["task-clock"] / 1000 / wall, 3),
        "syscalls_per_request": round(counts["raw_syscalls:sys_enter"] / requests, 1),
        "pselect6_per_request": round(counts["syscalls:sys_enter_pselect6"] / requests, 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--packets", type=int, default=20_000, help="requests per radclient run")
    p.add_argument("--parallel", type=int, default=128, help="radclient -p")
    args = p.parse_args(argv)
    if shutil.which("perf") is None:
        print("bench.driver_polls: needs perf (apt-get install linux-perf)", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="radmfa-driver-polls-"))
    upstream = FreeRadius.ack(None, UPSTREAM_SECRET)
    proxy: FreeRadius | None = None
    radmfa: Radmfa | None = None
    try:
        upstream.start()
        proxy = FreeRadius.proxy(None, NAS_SECRET, home=(*upstream.address, UPSTREAM_SECRET)).start()
        write_clients(workdir)
        radmfa = Radmfa(workdir, "radmfa", free_udp_port(), upstream.address, 1).start()
        distinct = min(1000, args.packets)
        files = write_packet_files(workdir, 1, distinct)
        arms = {"radmfa": radmfa.address, "proxy": proxy.address}
        pids = {arm: [pid, *children(pid)] for arm, pid in (("radmfa", radmfa.pid), ("proxy", proxy.pid))
                if pid is not None}
        for address in arms.values():  # warm-up, as the benchmark does
            radclient(address, NAS_SECRET, files, parallel=args.parallel, repeat=1)
        runs: dict[str, list[dict[str, float]]] = {arm: [] for arm in arms}
        order = list(arms)
        for r in range(args.rounds):
            for arm in order if r % 2 == 0 else order[::-1]:
                runs[arm].append(one_run(arms[arm], files[0], max(1, args.packets // distinct), args.parallel,
                                         pids.get(arm)))
    finally:
        for component in (radmfa, proxy, upstream):
            if component is not None:
                component.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    out: dict[str, Any] = {arm: {key: round(median(r[key] for r in rs), 3) for key in rs[0]} | {"runs": rs}
                           for arm, rs in runs.items()}
    print(json.dumps(out, indent=1))
    print("\n| arm | requests/s | radclient CPU µs / request | CPUs radclient used | syscalls / request "
          "| pselect6 / request |\n|---|---:|---:|---:|---:|---:|")
    for arm, o in out.items():
        print(f"| {arm} | {o['per_s']:,.0f} | {o['radclient_cpu_us_per_request']} | {o['radclient_cpus_used']} "
              f"| {o['syscalls_per_request']} | {o['pselect6_per_request']} |")
    print("\n| arm (the server's own) | user µs / request | kernel µs / request | syscalls / request "
          "| context switches / request |\n|---|---:|---:|---:|---:|")
    for arm, o in out.items():
        print(f"| {arm} | {o['server_user_us_per_request']} | {o['server_system_us_per_request']} "
              f"| {o['server_syscalls_per_request']} | {o['server_context_switches_per_request']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

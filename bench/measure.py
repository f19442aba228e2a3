"""Measuring tools the scenarios share: radclient runs, CPU meters, percentiles."""

from __future__ import annotations

import re
import resource
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.stack import children, process_cpu_s
from bench.users import PASSWORD

RADCLIENT_TIMEOUT_S = 2  # per try; a lost packet costs this much wall time, on both sides
_SUMMARY = re.compile(r"^\s*(Accepted|Rejected|Lost)\s*:\s*(\d+)", re.MULTILINE)


@dataclass(frozen=True)
class RadclientRun:
    accepted: int
    rejected: int
    lost: int
    wall_s: float

    @property
    def rate(self) -> float:
        return self.accepted / self.wall_s if self.wall_s else 0.0


def write_packet_files(directory: Path, instances: int, distinct: int) -> list[Path]:
    """One radclient input file per instance, ``distinct`` packets each, unique names."""
    files = []
    for k in range(instances):
        path = directory / f"radclient-{k}.txt"
        path.write_text("".join(
            f'User-Name = "pt{k}-{i}"\nUser-Password = "{PASSWORD.decode()}"\n'
            "Message-Authenticator = 0x00\n\n"
            for i in range(distinct)
        ))
        files.append(path)
    return files


def radclient(server: tuple[str, int], secret: str, files: list[Path], *, parallel: int,
              repeat: int) -> RadclientRun:
    """``radclient -q -s -p N -c C -f FILE host:port auth secret``, one per file, at once.

    Requests/s are taken from the wall time around all of them; ``-c`` sends
    each packet again with a new Identifier and authenticator (checked: not a
    retransmission), so radmfa's duplicate cache does not answer them.
    """
    argv = ["radclient", "-q", "-s", "-p", str(parallel), "-c", str(repeat),
            "-t", str(RADCLIENT_TIMEOUT_S), "-r", "1"]
    target = f"{server[0]}:{server[1]}"
    outs = [tempfile.TemporaryFile() for _ in files]  # noqa: SIM115 - closed below
    started = time.perf_counter()
    procs = [subprocess.Popen([*argv, "-f", str(f), target, "auth", secret],  # noqa: S603
                              stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
             for f, out in zip(files, outs, strict=True)]
    try:
        for p in procs:
            p.wait(timeout=600)
        wall = time.perf_counter() - started
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    counts = {"Accepted": 0, "Rejected": 0, "Lost": 0}
    for out in outs:
        out.seek(0)
        for name, value in _SUMMARY.findall(out.read().decode(errors="replace")):
            counts[name] += int(value)
        out.close()
    return RadclientRun(counts["Accepted"], counts["Rejected"], counts["Lost"], wall)


class CpuMeter:
    """CPU seconds of named process trees over an interval → share of the machine.

    Besides the named trees: ``driver`` is what this benchmark's own reaped
    children used (radclient, load generator processes), ``machine`` is how
    busy all cores were (/proc/stat), and ``other`` is the rest — processes
    that are not part of the benchmark. A large ``other`` means the run shared
    the machine with something and its figures are suspect. A tree of several
    processes (radmfa with workers > 1) also gets its processes' shares one by
    one, which shows how evenly the kernel spread the load over the workers.
    """

    def __init__(self, pids: dict[str, int | None], cores: int) -> None:
        self.pids, self.cores = pids, cores
        self.t0 = time.monotonic()
        self.cpu0 = {name: _per_process(pid) for name, pid in pids.items()}
        self.driver0 = _reaped_children_cpu_s()
        self.machine0 = _machine_jiffies()

    def shares(self) -> dict[str, Any]:
        wall = (time.monotonic() - self.t0) * self.cores
        out: dict[str, Any] = {}
        named = 0.0
        for name, pid in self.pids.items():
            now, before = _per_process(pid), self.cpu0[name]
            each = {p: (cpu - before.get(p, 0.0)) / wall for p, cpu in now.items()}
            named += sum(each.values())
            out[f"{name}_cpu_share"] = round(sum(each.values()), 3)
            if len(each) > 2:  # a parent that only waits, and its workers
                out[f"{name}_cpu_share_per_process"] = [round(v, 3) for v in each.values()]
        driver = (_reaped_children_cpu_s() - self.driver0) / wall
        busy, total = (b - a for a, b in zip(self.machine0, _machine_jiffies(), strict=True))
        machine = busy / total if total else 0.0
        out["driver_cpu_share"] = round(driver, 3)
        out["machine_cpu_share"] = round(machine, 3)
        out["other_cpu_share"] = round(max(0.0, machine - named - driver), 3)
        return out


def _reaped_children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies over all cores since boot (proc(5), the "cpu" line)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    total = sum(fields[:8])  # guest time is already inside user
    return total - idle, total


def _per_process(pid: int | None) -> dict[int, float]:
    if pid is None:
        return {}
    return {p: process_cpu_s(p) for p in (pid, *children(pid))}


def percentile(values: Iterable[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    data = sorted(values)
    if not data:
        return float("nan")
    rank = max(1, min(len(data), round(q / 100 * len(data) + 0.5)))
    return data[rank - 1]


def median(values: Iterable[float]) -> float:
    data = list(values)
    return statistics.median(data) if data else float("nan")

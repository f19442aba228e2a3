"""Optional: sample radmfa with py-spy while the scenarios run (``--profile``).

py-spy is a tool for whoever profiles, not a dependency of radmfa: install it
into the venv by hand (``.venv/bin/pip install py-spy``). Sampling costs
radmfa some throughput, so figures from a profiled run are not for the table.
Writes the raw collapsed stacks and a short summary of where the time goes.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

_LINE = re.compile(r"^(?P<stack>.*) (?P<count>\d+)$")
_FRAME_LINE = re.compile(r":\d+\)$")


class Profiler:
    def __init__(self, pid: int, out: Path, rate: int = 250) -> None:
        exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        if not Path(exe).exists():
            raise RuntimeError("--profile needs py-spy: .venv/bin/pip install py-spy")
        self.raw = out / "profile-raw.txt"
        self.summary = out / "profile-top.md"
        out.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(  # noqa: S603
            [exe, "record", "--pid", str(pid), "--subprocesses", "--rate", str(rate),
             "--format", "raw", "--output", str(self.raw)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        )

    def stop(self) -> Path | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self.raw.exists():
            return None
        self.summary.write_text(summarise(self.raw.read_text()))
        return self.summary


def _function(frame: str) -> str:
    """'handle (radmfa/core/pipeline.py:61)' → 'handle (radmfa/core/pipeline.py)'."""
    return _FRAME_LINE.sub(")", frame)


def summarise(raw: str, top: int = 30) -> str:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        count = int(m["count"])
        frames = [_function(f) for f in m["stack"].split(";") if f]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    total = max(total, 1)
    lines = [f"# Where radmfa spends its time ({total:,} samples, all processes)", "",
             "## Own time (the function itself, not its callees)", "", "| % | function |", "|---:|---|"]
    lines += [f"| {100 * n / total:.1f} | `{f}` |" for f, n in own.most_common(top)]
    lines += ["", "## Inclusive time (with callees)", "", "| % | function |", "|---:|---|"]
    lines += [f"| {100 * n / total:.1f} | `{f}` |" for f, n in inclusive.most_common(top)]
    return "\n".join(lines) + "\n"

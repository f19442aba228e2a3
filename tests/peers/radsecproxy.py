"""A private radsecproxy (Debian's `radsecproxy`), the RadSec peer: run in the
foreground with its own config and log file in a temp directory.

Ready means its listening sockets are bound (read from /proc/net, which
sends nothing to it); a start that does not get there shows its log.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

START_TIMEOUT = 60.0  # generous: a busy machine
STOP_TIMEOUT = 5.0


def listening(port: int, *, udp: bool) -> bool:
    """Is some socket of this machine bound (UDP) or listening (TCP) on ``port``?"""
    files = ("/proc/net/udp", "/proc/net/udp6") if udp else ("/proc/net/tcp", "/proc/net/tcp6")
    want = f":{port:04X}"
    for name in files:
        try:
            lines = Path(name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[1].endswith(want) and (udp or fields[3] == "0A"):  # 0A: TCP_LISTEN
                return True
    return False


@dataclass
class Radsecproxy:
    directory: Path
    config: str  # radsecproxy.conf without LogDestination (added here)
    binary: str = "radsecproxy"
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.directory / "radsecproxy.log"

    def start(self, *, udp_ports: tuple[int, ...] = (), tcp_ports: tuple[int, ...] = ()) -> Radsecproxy:
        conf = self.directory / "radsecproxy.conf"
        conf.write_text(f"LogDestination file://{self.log_path}\nLogLevel 5\n{self.config}")
        self._out = open(self.directory / "radsecproxy.out", "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(  # noqa: S603
            [self.binary, "-f", "-c", str(conf), "-i", str(self.directory / "radsecproxy.pid")],
            stdout=self._out, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while not (all(listening(p, udp=True) for p in udp_ports) and all(listening(p, udp=False) for p in tcp_ports)):
            if self.proc.poll() is not None:
                raise RuntimeError(f"radsecproxy exited {self.proc.returncode}:\n{self.log_text()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"radsecproxy not listening within {START_TIMEOUT} s:\n{self.log_text()}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()
        self.proc = None

    def log_text(self) -> str:
        parts = [p.read_text(errors="replace") for p in (self.log_path, self.directory / "radsecproxy.out")
                 if p.exists()]
        return "\n".join(parts)[-8000:] or "(radsecproxy's log is empty)"

"""The processes under test: radmfa instances, the enrolled population, RSS.

FreeRADIUS is started through ``tests.peers.freeradius.FreeRadius``, the
project's launcher for its real peers (ack upstream and plain proxy); radmfa
is started as a real process the way an admin runs it, ``python -m radmfa
serve --config PATH`` (or through ``run_workers`` directly when the CLI does
not import), and asked a Status-Server until it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from bench.users import seed_for
from radmfa.core.model import NewToken, NewUser
from radmfa.errors import AlreadyExists
from radmfa.radius import crypto, wire
from radmfa.store import open_store

REPO = Path(__file__).resolve().parents[1]
NAS_SECRET = "bench-nas-secret-0123456789"  # noqa: S105 - loopback benchmark only
UPSTREAM_SECRET = "bench-upstream-secret-0123"  # noqa: S105
SEED_CONCURRENCY = 200
_FALLBACK = (
    "import sys; from radmfa import config; from radmfa.service.run import run_workers; "
    "sys.exit(run_workers(config.load(sys.argv[1])))"
)

QUIET_NAS = "127.0.0.2"  # a second NAS, for the fairness scenario
CLIENTS_CONF = f"""client bench {{
\tipaddr = 127.0.0.1
\tsecret = "{NAS_SECRET}"
\trequire_message_authenticator = yes
\tlimit_proxy_state = yes
}}
client quiet {{
\tipaddr = {QUIET_NAS}
\tsecret = "{NAS_SECRET}"
\trequire_message_authenticator = yes
\tlimit_proxy_state = yes
}}
"""


def write_clients(workdir: Path) -> None:
    (workdir / "clients.conf").write_text(CLIENTS_CONF)


@dataclass
class Radmfa:
    """One radmfa process tree; every instance in ``workdir`` shares its SQLite store."""

    workdir: Path
    name: str
    port: int
    upstream: tuple[str, int]
    workers: int
    log_level: str = "warning"
    metrics_port: int = 0  # [metrics] listen on 127.0.0.1 when set
    proc: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def config_path(self) -> Path:
        return self.workdir / f"{self.name}.toml"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def write_config(self) -> None:
        up_host, up_port = self.upstream
        self.config_path.write_text(
            f"""[radius]
listen = ["127.0.0.1:{self.port}"]
accounting_listen = []  # no accounting here: no port the benchmark did not choose
clients_file = "clients.conf"
dictionary = "{REPO / 'dictionary'}"
reject_delay_s = 0
workers = {self.workers}

[upstream]
type = "radius"
servers = ["{up_host}:{up_port}"]
secret = "{UPSTREAM_SECRET}"
timeout_s = 2
retries = 2

[mfa]
unknown_users = "password-only"

[store]
url = "sqlite:///radmfa.db"
key_file = "radmfa.key"

[log]
level = "{self.log_level}"
format = "json"
"""
            + (f'\n[metrics]\nlisten = ["127.0.0.1:{self.metrics_port}"]\n' if self.metrics_port else "")
        )

    def command(self) -> list[str]:
        probe = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "radmfa", "check-config", "--config", str(self.config_path)],
            capture_output=True, timeout=60, check=False,
        )
        if probe.returncode == 0:
            return [sys.executable, "-m", "radmfa", "serve", "--config", str(self.config_path)]
        return [sys.executable, "-c", _FALLBACK, str(self.config_path)]

    def start(self, timeout: float = 20.0) -> Radmfa:
        self.write_config()
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(  # noqa: S603
            self.command(), stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=self.workdir, env=dict(os.environ, PYTHONUNBUFFERED="1"), preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"radmfa {self.name} exited while starting:\n{self.log_tail()}")
            if _status_server(self.address):
                time.sleep(0.5 if self.workers > 1 else 0.0)  # let every worker bind its socket
                return self
        self.stop()
        raise RuntimeError(f"radmfa {self.name} did not answer Status-Server:\n{self.log_tail()}")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # finishes requests in flight, then exits
            try:
                proc.wait(35)
            except subprocess.TimeoutExpired:
                for pid in children(proc.pid):
                    _kill(pid)
                proc.kill()
                proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def memory(self) -> dict[str, float]:
        """RSS (VmRSS), peak RSS (VmHWM) and PSS in MiB, summed over the process tree."""
        assert self.proc is not None
        pids = [self.proc.pid, *children(self.proc.pid)]
        return {
            "processes": len(pids),
            "rss_mb": sum(_status_kb(pid, "VmRSS") for pid in pids) / 1024,
            "hwm_mb": sum(_status_kb(pid, "VmHWM") for pid in pids) / 1024,
            "pss_mb": sum(_pss_kb(pid) for pid in pids) / 1024,
        }

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds used so far by one process (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime (proc(5))


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the benchmark dies, even by SIGKILL (prctl(2))."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _status_server(server: tuple[str, int], timeout: float = 0.3) -> bool:
    """RFC 5997: one Status-Server, True when a verified reply came back."""
    import socket

    auth = crypto.new_authenticator()
    data = crypto.sign_request(wire.STATUS_SERVER, 1, auth, b"", NAS_SECRET.encode())
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(data, server)
        try:
            reply = s.recv(4096)
        except (TimeoutError, ConnectionRefusedError):
            return False
    return crypto.verify_response(reply, auth, NAS_SECRET.encode(), 22)


def children(pid: int) -> list[int]:
    """The direct children of ``pid`` (radmfa's workers)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


# ---- the enrolled population, through the Store API like `radmfa user add` ----

async def _seed(workdir: Path, users: int) -> None:
    store = await open_store("sqlite:///radmfa.db", key_file=Path("radmfa.key"), base_dir=workdir)

    async def enrol(i: int) -> None:
        try:
            await store.add_user(NewUser(f"u{i}"))
        except AlreadyExists:
            return
        await store.add_token(f"u{i}", NewToken("totp", seed_for(i), label="bench"))

    try:
        for start in range(0, users, SEED_CONCURRENCY):
            await asyncio.gather(*(enrol(i) for i in range(start, min(users, start + SEED_CONCURRENCY))))
    finally:
        await store.close()


def seed(workdir: Path, users: int) -> float:
    """Enrol ``users`` TOTP users (u0, u1, …) and return the seconds it took."""
    started = time.perf_counter()
    asyncio.run(_seed(workdir, users))
    return time.perf_counter() - started

"""The portal's real surroundings for browser tests: `radmfa serve` (the
RADIUS side and the provider callbacks of [http]), `radmfa portal` (its
own process, as in a perimeter network), the fake Twilio and ntfy, a real
FreeRADIUS or slapd upstream, and users seeded through the Store API."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fakes.server import free_tcp_port
from tests.integration.harness import Radmfa
from tests.integration.phone_env import Peers, make_server


@dataclass
class Portal:
    """`radmfa portal --config …` as a process; ready when /healthz answers."""

    config_path: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None
    command: str = "portal"  # or "admin-portal"
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.config_path.parent / f"{self.command}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> Portal:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "radmfa", self.command, "--config", str(self.config_path)],
            stdout=self._log, stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"radmfa {self.command} exited {self.proc.returncode}:\n{self.log_text()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as resp:  # noqa: S310
                    if resp.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"radmfa portal did not answer within {timeout} s:\n{self.log_text()}")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        self.proc = None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def portal_toml(port: int, extra: str = "") -> str:
    return f"""
[portal]
listen = ["127.0.0.1:{port}"]
public_url = "http://127.0.0.1:{port}"
{extra}
"""


def make_stack(
    factory: Callable[..., Radmfa], peers: Peers, *, upstream: str, mfa: str = "app_passwords = true\n",
    portal_extra: str = "", oob_timeout_s: float = 20, **kw: Any,
) -> tuple[Radmfa, Portal]:
    """radmfa (serve) and its portal sharing one radmfa.toml and store."""
    port = free_tcp_port()
    server = make_server(factory, peers, upstream=upstream, mfa=mfa, oob_timeout_s=oob_timeout_s,
                         extra_toml=portal_toml(port, portal_extra), **kw)
    return server, Portal(server.config_path, port)

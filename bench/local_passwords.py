"""Local passwords (``[upstream] type = "local"``): argon2id logins per second,
and a quiet NAS's logins while another NAS floods wrong passwords.

    .venv/bin/python bench/run.py --only local   # these keys only, merged into latest.json

A radmfa of its own (its own store and clients.conf in a subdirectory),
the default ``[passwords]`` (argon2id, 2 passes over 19 MiB, one thread per
core), users with a local password and no second factor (``new_user =
"allow"``), so each login is one argon2 verification:

* ``local_logins_per_s``: radclient -p 8, each user once with the right
  password. The details add radmfa's CPU share and logins per radmfa
  CPU-second: on a machine shared with other work, the CPU figure says
  what the wall-clock one would be on an idle one.
* ``quiet_nas_success_during_flood``: the "bench" NAS (127.0.0.1) sends
  wrong passwords with radclient -p 64 for as long as the "quiet" NAS
  (127.0.0.2) logs in one user after another at ``QUIET_RATE`` logins/s, each
  given a NAS's 3 s before it counts as failed; the share accepted. The same
  run with the attempt budgets off (``client_attempts = user_attempts = 0``,
  the pool's per-client share only) is in the details.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.measure import _SUMMARY, CpuMeter
from bench.stack import NAS_SECRET, QUIET_NAS, REPO, Radmfa, write_clients
from radmfa.core.model import NewUser
from radmfa.radius import crypto, wire
from radmfa.store import open_store
from radmfa.upstream.passwords import hash_password

if TYPE_CHECKING:
    from bench.scenarios import Bench

PASSWORD = "bench-local-pw"  # noqa: S105 - loopback benchmark only
QUIET_RATE = 5.0  # quiet NAS logins per second
QUIET_TIMEOUT_S = 3.0  # a NAS's wait for one reply
SIZES = {False: {"logins": 1000, "flood_s": 15.0}, True: {"logins": 300, "flood_s": 5.0}}
RADCLIENT_TIMEOUT_S = 20  # logins/s: nothing given up on, however busy the machine


def _radclient(server: tuple[str, int], packets: Path, parallel: int) -> dict[str, Any]:
    """radclient -q -s: Accepted/Rejected/Lost and the wall time around it."""
    t0 = time.perf_counter()
    done = subprocess.run(  # noqa: S603
        ["radclient", "-q", "-s", "-p", str(parallel), "-t", str(RADCLIENT_TIMEOUT_S), "-r", "1", "-f", str(packets),
         f"{server[0]}:{server[1]}", "auth", NAS_SECRET],
        capture_output=True, text=True, errors="replace", timeout=900, check=False,
    )
    counts: dict[str, Any] = {"Accepted": 0, "Rejected": 0, "Lost": 0}
    for name, value in _SUMMARY.findall(done.stdout + done.stderr):
        counts[name] += int(value)
    return {"accepted": counts["Accepted"], "rejected": counts["Rejected"], "lost": counts["Lost"],
            "wall_s": round(time.perf_counter() - t0, 2)}


class LocalRadmfa(Radmfa):
    """radmfa with the local upstream; ``passwords`` is extra [passwords] TOML."""

    passwords: str = ""

    def write_config(self) -> None:
        self.config_path.write_text(
            f"""[radius]
listen = ["127.0.0.1:{self.port}"]
accounting_listen = []
clients_file = "clients.conf"
dictionary = "{REPO / 'dictionary'}"
reject_delay_s = 0
workers = {self.workers}

[upstream]
type = "local"

[mfa]
new_user = "allow"

[passwords]
{self.passwords}

[store]
url = "sqlite:///radmfa.db"
key_file = "radmfa.key"

[log]
level = "{self.log_level}"
format = "json"
"""
        )


async def _seed(workdir: Path, users: int, quiet: int) -> None:
    # One hash for all: each login still pays one full verification.
    hashed = hash_password(PASSWORD)
    store = await open_store("sqlite:///radmfa.db", key_file=Path("radmfa.key"), base_dir=workdir)
    try:
        names = [f"b{i}" for i in range(users)] + [f"q{i}" for i in range(quiet)]
        for start in range(0, len(names), 200):
            await asyncio.gather(*(store.add_user(NewUser(n, password_hash=hashed)) for n in names[start:start + 200]))
    finally:
        await store.close()


def _packets(path: Path, users: int, password: str) -> Path:
    path.write_text("".join(
        f'User-Name = "b{i}"\nUser-Password = "{password}"\nMessage-Authenticator = 0x00\n\n' for i in range(users)
    ))
    return path


def _quiet_logins(server: tuple[str, int], duration_s: float) -> dict[str, int]:
    """One login after another from QUIET_NAS, paced at QUIET_RATE."""
    secret = NAS_SECRET.encode()
    counts = {"started": 0, "accepted": 0, "rejected": 0, "lost": 0}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((QUIET_NAS, 0))
        s.connect(server)
        t0 = time.monotonic()
        while time.monotonic() - t0 < duration_s:
            due = t0 + counts["started"] / QUIET_RATE
            time.sleep(max(0.0, due - time.monotonic()))
            ident = counts["started"] % 256
            ra = crypto.new_authenticator()
            name = f"q{counts['started'] % 50}".encode()
            body = wire.encode_attrs([
                (wire.USER_NAME, name), (wire.USER_PASSWORD, crypto.hide_password(PASSWORD.encode(), secret, ra)),
            ])
            s.send(crypto.sign_request(wire.ACCESS_REQUEST, ident, ra, body, secret))
            counts["started"] += 1
            deadline = time.monotonic() + QUIET_TIMEOUT_S
            while True:
                s.settimeout(max(0.001, deadline - time.monotonic()))
                try:
                    reply = s.recv(4096)
                except TimeoutError:
                    counts["lost"] += 1
                    break
                if reply[1] != ident or not crypto.verify_response(reply, ra, secret, 22):
                    continue  # a late answer to an earlier login
                counts["accepted" if reply[0] == wire.ACCESS_ACCEPT else "rejected"] += 1
                break
    return counts


def _hash_checks(node: Radmfa) -> dict[str, int]:
    """The counters radmfa logs when it stops (level info)."""
    for line in reversed(node.log_path.read_text(errors="replace").splitlines()):
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == "stopped":
            return dict(event.get("hash_checks") or {})
    return {}


def _node(workdir: Path, name: str, workers: int, passwords: str) -> LocalRadmfa:
    from tests.peers.ports import free_udp_port

    node = LocalRadmfa(workdir, name, free_udp_port(), ("127.0.0.1", 9), workers, log_level="info")
    node.passwords = passwords
    return node


def _flood_arm(workdir: Path, workers: int, passwords: str, flood_s: float, users: int) -> dict[str, Any]:
    node = _node(workdir, f"flood-{'budgets' if not passwords else 'pool-only'}", workers, passwords).start(60)
    flood_file = _packets(workdir / "flood.txt", users, "wrong-guess")
    flood = subprocess.Popen(  # noqa: S603
        ["radclient", "-q", "-s", "-p", "64", "-c", "1000", "-t", "1", "-r", "1", "-f", str(flood_file),
         f"{node.address[0]}:{node.address[1]}", "auth", NAS_SECRET],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)  # the flood is under way before the first quiet login
        quiet = _quiet_logins(node.address, flood_s)
    finally:
        flood.terminate()
        flood.wait(30)
        node.stop()
    return {"quiet": quiet, "quiet_success": round(quiet["accepted"] / max(1, quiet["started"]), 4),
            "hash_checks": _hash_checks(node), "passwords": passwords or "defaults"}


def measure(workdir: Path, *, quick: bool, workers: int) -> tuple[dict[str, Any], dict[str, Any]]:
    size = SIZES[quick]
    workdir.mkdir(parents=True, exist_ok=True)
    write_clients(workdir)
    asyncio.run(_seed(workdir, size["logins"], 50))
    load_before = os.getloadavg()[0]
    node = _node(workdir, "logins", workers, "").start(60)
    try:
        _radclient(node.address, _packets(workdir / "warm.txt", 20, PASSWORD), parallel=4)
        meter = CpuMeter({"radmfa": node.pid}, os.cpu_count() or 1)
        logins = _radclient(node.address, _packets(workdir / "logins.txt", size["logins"], PASSWORD), parallel=8)
        shares = meter.shares()
    finally:
        node.stop()
    radmfa_cpu_s = shares["radmfa_cpu_share"] * logins["wall_s"] * (os.cpu_count() or 1)
    logins.update(shares, hash_checks=_hash_checks(node),
                  logins_per_radmfa_cpu_s=round(logins["accepted"] / radmfa_cpu_s, 1) if radmfa_cpu_s else None)
    arms = {
        "budgets": _flood_arm(workdir, workers, "", size["flood_s"], size["logins"]),
        "pool_only": _flood_arm(workdir, workers, "client_attempts = 0\nuser_attempts = 0", size["flood_s"],
                                size["logins"]),
    }
    results = {
        "local_logins_per_s": round(logins["accepted"] / logins["wall_s"], 1),
        "quiet_nas_success_during_flood": arms["budgets"]["quiet_success"],
    }
    details = {"logins": logins, "flood": arms, "loadavg_1m_before": round(load_before, 2),
               "loadavg_1m_after": round(os.getloadavg()[0], 2)}
    return results, details


def scenario(b: Bench) -> None:
    """bench/run.py's scenario: a radmfa of its own beside the others."""
    results, details = measure(b.workdir / "local-passwords", quick=b.settings.quick, workers=b.settings.workers)
    b.results.update(results)
    b.details["local_passwords"] = details

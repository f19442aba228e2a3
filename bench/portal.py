"""The user portal under load, and RADIUS beside it.

    PYTHONPATH=. .venv/bin/python -m bench.portal [--clients 50 --seconds 20 --radius-rate 200]

Starts, on free loopback ports: FreeRADIUS accepting every password (the
upstream), `radmfa serve` and `radmfa portal` (own processes, one SQLite
store). Signs ``--clients`` users in through the portal (password, then an
authenticator-app code), then measures:

  A  RADIUS alone: Access-Requests at ``--radius-rate`` per second
     (password-only users, through the upstream), latency p50/p99;
  B  the portal alone: ``--clients`` clients, each with its own signed-in
     session, requesting pages back to back (/account, the heaviest page,
     and /signin), latency p50/p99 per page;
  C  both at once: RADIUS p99 while the portal is under B's load;
  D  capacity: the same clients with no pause between pages.

B and C pace each client like a person reading (``--think``, 0.5 s between
pages): 50 browsers' worth of requests. D shows where it saturates.

Writes bench/results/portal.json and prints a table (docs/benchmarks.md).
Not part of the test suite: timings belong here, not in tests.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import aiohttp
import pyotp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.fakes.server import free_tcp_port  # noqa: E402
from tests.integration.harness import NAS_SECRET, access_request  # noqa: E402
from tests.peers.freeradius import FreeRadius  # noqa: E402
from tests.peers.ports import free_udp_port  # noqa: E402

from bench.measure import percentile  # noqa: E402
from radmfa.config import load  # noqa: E402
from radmfa.core.model import NewToken, NewUser, UserState  # noqa: E402
from radmfa.radius import wire  # noqa: E402
from radmfa.store import open_store  # noqa: E402

UPSTREAM_SECRET = "bench-upstream-secret"
RADIUS_USERS = 200  # password-only users the RADIUS load cycles through


def write_config(workdir: Path, upstream: tuple[str, int], radius_port: int, portal_port: int) -> Path:
    (workdir / "clients.conf").write_text(
        f'client bench {{\n ipaddr = 127.0.0.1\n secret = "{NAS_SECRET}"\n require_message_authenticator = yes\n}}\n'
    )
    path = workdir / "radmfa.toml"
    path.write_text(f"""
[radius]
listen = ["127.0.0.1:{radius_port}"]
accounting_listen = []
clients_file = "clients.conf"
dictionary = "{REPO / 'dictionary'}"
reject_delay_s = 0

[upstream]
type = "radius"
servers = ["{upstream[0]}:{upstream[1]}"]
secret = "{UPSTREAM_SECRET}"

[store]
url = "sqlite:///radmfa.db"
key_file = "radmfa.key"

[log]
format = "json"
level = "warning"

[portal]
listen = ["127.0.0.1:{portal_port}"]
public_url = "http://127.0.0.1:{portal_port}"
signin_per_address = 0
""")
    return path


async def seed(config: Path, clients: int) -> dict[str, bytes]:
    cfg = load(config)
    store = await open_store(cfg.store.url, key_file=cfg.store.key_file, base_dir=cfg.base_dir)
    seeds = {}
    try:
        for i in range(clients):
            name = f"web{i:03d}"
            await store.add_user(NewUser(name))
            seeds[name] = secrets.token_bytes(20)
            await store.add_token(name, NewToken("totp", seeds[name]))
        for i in range(RADIUS_USERS):
            await store.add_user(NewUser(f"vpn{i:03d}", state=UserState.DISABLED))
    finally:
        await store.close()
    return seeds


def start(config: Path, command: str, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "radmfa", command, "--config", str(config)],
        stdout=log.open("ab"), stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


async def sign_in(base: str, name: str, seed: bytes) -> aiohttp.ClientSession:
    """A browser's worth of session: password, then the app's code."""
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with http.get(base + "/signin") as r:
        token = _csrf(await r.text())
    async with http.post(base + "/signin", data={"csrf": token, "name": name, "password": "x"}) as r:
        token = _csrf(await r.text())  # the method page, after the redirect
    async with http.post(base + "/verify", data={"csrf": token, "method": "totp"}) as r:
        token = _csrf(await r.text())
    code = pyotp.TOTP(base64.b32encode(seed).decode()).now()
    async with http.post(base + "/verify/code", data={"csrf": token, "code": code}) as r:
        if not str(r.url).endswith("/account"):
            raise RuntimeError(f"{name} did not get signed in: {r.url}")
    return http


async def portal_load(
    base: str, sessions: list[aiohttp.ClientSession], seconds: float, think: float
) -> dict[str, list[float]]:
    """Each session asks for a page, reads it, waits ``think`` seconds (a
    person reading; 0 = back to back), and so on."""
    times: dict[str, list[float]] = {"/account": [], "/signin": []}
    deadline = time.monotonic() + seconds

    async def client(http: aiohttp.ClientSession, first: int) -> None:
        i = first
        await asyncio.sleep(think * first / max(1, len(sessions)))  # not all in step
        while time.monotonic() < deadline:
            path = ("/account", "/signin")[i % 2]
            t0 = time.perf_counter()
            async with http.get(base + path, allow_redirects=False) as r:
                await r.read()
                if r.status != 200:
                    raise RuntimeError(f"{path}: HTTP {r.status}")
            times[path].append((time.perf_counter() - t0) * 1000)
            i += 1
            if think:
                await asyncio.sleep(think)

    await asyncio.gather(*(client(h, n) for n, h in enumerate(sessions)))
    return times


class _Radius(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.sent: dict[int, float] = {}
        self.times: list[float] = []
        self.lost = 0

    def datagram_received(self, data: bytes, addr: Any) -> None:
        t0 = self.sent.pop(data[1], None)
        if t0 is not None and data[0] == wire.ACCESS_ACCEPT:
            self.times.append((time.perf_counter() - t0) * 1000)


async def radius_load(server: tuple[str, int], rate: float, seconds: float) -> list[float]:
    """Access-Requests at ``rate`` per second (password only: the upstream accepts)."""
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(_Radius, family=socket.AF_INET, remote_addr=server)
    try:
        count = int(rate * seconds)
        start_at = time.perf_counter()
        for n in range(count):
            ident = n % 256
            name = f"vpn{n % RADIUS_USERS:03d}".encode()
            packet, _ = access_request(ident, [(wire.USER_NAME, name)], password=b"pw")
            proto.sent[ident] = time.perf_counter()
            transport.sendto(packet)
            wait = start_at + (n + 1) / rate - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
        await asyncio.sleep(1.0)
    finally:
        transport.close()
    return proto.times


def summary(times: list[float]) -> dict[str, float]:
    return {"n": len(times), "p50_ms": round(percentile(times, 50), 2), "p99_ms": round(percentile(times, 99), 2)}


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    upstream = FreeRadius.ack(free_udp_port(), UPSTREAM_SECRET, binary="/usr/sbin/freeradius").start()
    radius_port, portal_port = free_udp_port(), free_tcp_port()
    config = write_config(workdir, upstream.address, radius_port, portal_port)
    seeds = await seed(config, args.clients)
    procs = [start(config, "serve", workdir / "serve.log"), start(config, "portal", workdir / "portal.log")]
    base = f"http://127.0.0.1:{portal_port}"
    try:
        wait_http(base + "/healthz")
        time.sleep(1.0)
        sessions = [await sign_in(base, name, seed) for name, seed in seeds.items()]
        server = ("127.0.0.1", radius_port)
        await radius_load(server, args.radius_rate, 2)  # warm-up
        alone = await radius_load(server, args.radius_rate, args.seconds)
        pages = await portal_load(base, sessions, args.seconds, args.think)
        both: list[Awaitable[Any]] = [portal_load(base, sessions, args.seconds, args.think),
                                      radius_load(server, args.radius_rate, args.seconds)]
        pages_loaded, radius_loaded = await asyncio.gather(*both)
        saturated = await portal_load(base, sessions, args.seconds, 0.0)
        for http in sessions:
            await http.close()
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(20)
        upstream.stop()
    return {
        "clients": args.clients,
        "seconds": args.seconds,
        "radius_rate": args.radius_rate,
        "radius_alone": summary(alone),
        "portal_alone": {path: summary(t) for path, t in pages.items()},
        "portal_with_radius": {path: summary(t) for path, t in pages_loaded.items()},
        "radius_with_portal": summary(radius_loaded),
        "think_s": args.think,
        "portal_back_to_back": {path: summary(t) for path, t in saturated.items()},
        "portal_back_to_back_per_s": round(sum(len(t) for t in saturated.values()) / args.seconds),
        "sent_per_phase": int(args.radius_rate * args.seconds),
        "cpus": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--radius-rate", type=float, default=200)
    parser.add_argument("--think", type=float, default=0.5, help="seconds each client waits between pages")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "portal.json")
    args = parser.parse_args()
    signal.alarm(600)  # never runs away
    workdir = Path(tempfile.mkdtemp(prefix="radmfa-bench-portal-"))
    result = asyncio.run(run(args, workdir))
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print("| phase | what | n | p50 ms | p99 ms |\n|---|---|---:|---:|---:|")
    rows = [("RADIUS alone", "Access-Request", result["radius_alone"])]
    rows += [("portal alone", p, s) for p, s in result["portal_alone"].items()]
    rows += [("both", p, s) for p, s in result["portal_with_radius"].items()]
    rows += [("both", "Access-Request", result["radius_with_portal"])]
    rows += [("portal back to back", p, s) for p, s in result["portal_back_to_back"].items()]
    for phase, what, s in rows:
        print(f"| {phase} | {what} | {s['n']} | {s['p50_ms']} | {s['p99_ms']} |")
    print(f"(RADIUS requests sent per phase: {result['sent_per_phase']}; back to back: "
          f"{result['portal_back_to_back_per_s']} pages/s; workdir {workdir})")


if __name__ == "__main__":
    main()

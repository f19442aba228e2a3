"""PostgreSQL round trips per request: a proxied request, an inline login and
a challenge round trip, with the PostgreSQL store.

    PYTHONPATH=. .venv/bin/python -m bench.pg_trips [--requests 200]

radmfa is built in this process as in bench/stages.py (the FreeRADIUS "ack"
upstream as a real peer), on a throwaway database of the PostgreSQL server
the tests use (``RADMFA_TEST_POSTGRES_URL``), reached through a TCP relay on
loopback that reads the client's side of the wire protocol. A round trip is
a message after which the client waits for the server: a Sync (the end of an
extended-protocol exchange: Parse/Bind/Execute… then Sync) or a simple
Query. The figure per request includes the audit rows' share (written 500 at
a time) and any pool housekeeping. radmfa's CPU is not measured here (the
relay runs in this process), see bench/stages.py for that; the PostgreSQL
server's is, roughly: ``server_cpu_us_per_request`` is the CPU time its
backends serving the throwaway database ran for (the kernel's per-process
count, /proc/<pid>/schedstat, read when the server runs on this machine),
per request. It is time, not instructions: compare runs made one after the
other, several times.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import selectors
import shutil
import socket
import struct
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.peers.freeradius import FreeRadius  # noqa: E402
from tests.peers.ports import free_udp_port  # noqa: E402

from bench.postgres_store import ADMIN_URL, PostgresRadmfa, _admin, _seed, _with_database  # noqa: E402
from bench.stack import UPSTREAM_SECRET, write_clients  # noqa: E402
from bench.stages import FLOWS, Driver, _flow  # noqa: E402


class Relay:
    """A TCP relay to PostgreSQL that counts the client's Sync and Query messages."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.counts: Counter[str] = Counter()
        self.statements: Counter[str] = Counter()  # per statement text: executions (Bind) and simple Queries
        self._named: dict[bytes, str] = {}  # prepared statement name → its text
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.setblocking(False)
        self.address = self._server.getsockname()
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._server, selectors.EVENT_READ, None)
        self._stop = False
        self._thread = threading.Thread(target=self._main, name="pg-relay", daemon=True)
        self._thread.start()

    def take(self) -> Counter[str]:
        with self._lock:
            counts, self.counts = self.counts, Counter()
        return counts

    def take_statements(self) -> Counter[str]:
        with self._lock:
            statements, self.statements = self.statements, Counter()
        return statements

    def close(self) -> None:
        self._stop = True
        self._thread.join(5)
        self._server.close()

    def _main(self) -> None:
        peers: dict[socket.socket, tuple[socket.socket, bytearray | None]] = {}
        while not self._stop:
            for key, _ in self._sel.select(0.2):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is self._server:
                    client, _ = self._server.accept()
                    upstream = socket.create_connection(self.target)
                    peers[client] = (upstream, bytearray())  # the client's side is parsed
                    peers[upstream] = (client, None)
                    for s in (client, upstream):
                        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                        self._sel.register(s, selectors.EVENT_READ, None)
                    continue
                other, buf = peers[sock]
                data = sock.recv(65536)
                if not data:
                    for s in (sock, other):
                        self._sel.unregister(s)
                        s.close()
                        peers.pop(s, None)
                    continue
                other.sendall(data)
                if buf is not None:
                    buf += data
                    self._parse(buf)

    def _parse(self, buf: bytearray) -> None:
        # The startup message has no type byte; every later one is type + int32 length.
        while True:
            if buf[:1] == b"\0" or not buf[:1].isalpha():  # startup (length first, its high byte 0)
                if len(buf) < 4:
                    return
                (n,) = struct.unpack("!I", buf[:4])
                if len(buf) < n:
                    return
                del buf[:n]
                continue
            if len(buf) < 5:
                return
            (n,) = struct.unpack("!I", buf[1:5])
            if len(buf) < 1 + n:
                return
            kind = chr(buf[0])
            body = bytes(buf[5 : 1 + n])
            del buf[: 1 + n]
            if kind in "SQ":
                with self._lock:
                    self.counts["Sync" if kind == "S" else "Query"] += 1
            if kind == "P":  # Parse: name\0 text\0 …
                name, text = body.split(b"\0", 2)[:2]
                self._named[name] = text.decode(errors="replace")
            elif kind == "B":  # Bind: portal\0 statement name\0 …
                name = body.split(b"\0", 2)[1]
                with self._lock:
                    self.statements[self._named.get(name, "?")] += 1
            elif kind == "Q":
                with self._lock:
                    self.statements["(simple) " + body.rstrip(b"\0").decode(errors="replace")] += 1


def _backend_cpu_ns(database: str) -> dict[int, int]:
    """CPU time so far of each local PostgreSQL backend connected to ``database``
    (its process title names the database), by process id; {} when none is local."""
    title = f" {database} ".encode()
    out: dict[int, int] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if not (proc / "cmdline").read_bytes().startswith(b"postgres: ") or title not in (
                    proc / "cmdline").read_bytes():
                continue
            out[int(proc.name)] = int((proc / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
    return out


async def _run(workdir: Path, n: int, relay: Relay, statements: bool = False, database: str = "") -> dict[str, Any]:
    from radmfa import config as config_mod
    from radmfa.service.app import build
    from radmfa.service.audit import configure_logging
    from radmfa.service.radius import Listener

    cfg = config_mod.load(workdir / "stages.toml")
    configure_logging(cfg.log)
    app = await build(cfg)
    app.audit.start()
    driver = Driver(app.service, Listener(app.service).dedup)
    out: dict[str, Any] = {}
    try:
        await _flow(driver, "inline", range(0, 20))  # warm up: connections, prepared statements
        await _flow(driver, "proxied", range(0, 20))
        await app.audit.flush()
        relay.take()
        relay.take_statements()
        for k, flow in enumerate(FLOWS):
            before = _backend_cpu_ns(database)
            await _flow(driver, flow, range(20 + k * n, 20 + (k + 1) * n))
            await app.audit.flush()
            after = _backend_cpu_ns(database)
            counts = relay.take()
            out[flow] = {"round_trips_per_request": round(sum(counts.values()) / n, 3), **{
                f"{kind}_per_request": round(v / n, 3) for kind, v in counts.items()}}
            if after:
                used = sum(ns - before.get(pid, 0) for pid, ns in after.items())
                out[flow]["server_cpu_us_per_request"] = round(used / n / 1000, 1)
            executed = relay.take_statements()
            if statements:
                out[flow]["statements_per_request"] = {
                    text[:160]: round(v / n, 3) for text, v in executed.most_common()}
    finally:
        await app.close()
    return out


def measure(n: int, statements: bool = False) -> dict[str, Any]:
    import uvloop

    workdir = Path(tempfile.mkdtemp(prefix="radmfa-pgtrips-"))
    name = "radmfa_trips_" + secrets.token_hex(4)
    url = _with_database(ADMIN_URL, name)
    host, port = _host_port(url)
    relay = Relay((host, port))
    relayed = url.replace(f"{host}:{port}", f"{relay.address[0]}:{relay.address[1]}", 1)
    relayed += ("&" if "?" in relayed else "?") + "sslmode=disable"
    ack = FreeRadius.ack(None, UPSTREAM_SECRET)
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        ack.start()
        write_clients(workdir)
        PostgresRadmfa(workdir, "stages", free_udp_port(), ack.address, 1, store_url=relayed).write_config()
        asyncio.run(_seed(url, workdir, 3 * n + 40))

        return uvloop.run(_run(workdir, n, relay, statements, name))
    finally:
        ack.stop()
        relay.close()
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        shutil.rmtree(workdir, ignore_errors=True)


def _host_port(url: str) -> tuple[str, int]:
    hostport = url.split("@", 1)[-1].split("/", 1)[0]
    host, _, port = hostport.partition(":")
    return host, int(port or 5432)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=200, help="requests (logins) per flow")
    p.add_argument("--statements", action="store_true",
                   help="also list each statement run per request (executions, by their SQL text)")
    args = p.parse_args(argv)
    doc = measure(args.requests, args.statements)
    print(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""LDAP front end: binds per second with inline codes, and the latency a
search gains by passing through radmfa rather than going to the directory.

    PYTHONPATH=. .venv/bin/python -m bench.ldap_front [--users 2000] [--concurrency 32] [--searches 2000]

Starts the test slapd with ``--users`` people (u0, u1, … with one password)
and radmfa (a real process, ``[radius] workers = 1``, log level warning)
with ``[ldap_front]`` on ldaps:// in front of it (LDAP upstream over
StartTLS, search-then-bind), the same users enrolled with TOTP tokens.

binds   each bind is what an application does for one login: a new TLS
        connection, a simple bind with ``password,code`` (every user once,
        so every code is fresh), unbind. ``--concurrency`` at a time. The
        same load against slapd's own ldaps:// (a bind with the password
        alone) is the directory's figure on this machine.
search  one connection bound as u0 runs ``--searches`` base-object
        searches one after another, through radmfa and then straight to
        slapd's ldaps:// (also bound as u0); p50/p99 of each, and the
        difference: what passing through radmfa adds.

Prints the figures and writes them as JSON to bench/results/ldap_front.json.
Not part of the test suite: timings belong here, not in tests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.fakes.server import free_tcp_port
from tests.peers.slapd import BASE_DN, PEOPLE, SERVICE_DN, SERVICE_PW, LdapPerson, Slapd

from bench.stack import REPO, process_cpu_s, seed
from bench.users import PASSWORD, seed_for, totp
from radmfa.front.ldap import ber, protocol

RESULTS = REPO / "bench" / "results" / "ldap_front.json"


def search_request(message_id: int, base: str) -> bytes:
    """A base-object search for (objectClass=*), attributes cn and mail (RFC 4511 §4.5.1)."""
    from ldap3.operation.search import search_operation
    from ldap3.protocol.rfc4511 import LDAPMessage, ProtocolOp
    from pyasn1.codec.ber import encoder

    body = search_operation(base, "(objectClass=*)", "BASE", "NEVER", ["cn", "mail"], 0, 0, False, False, False)
    message = LDAPMessage()
    message["messageID"] = message_id
    op = ProtocolOp()
    op.setComponentByName("searchRequest", body)
    message["protocolOp"] = op
    return bytes(encoder.encode(message))


class Client:
    """A minimal asyncio LDAP client: little CPU, so the figures are the servers'."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.framer = ber.Framer(1 << 24)

    @classmethod
    async def open(cls, port: int, context: ssl.SSLContext) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="127.0.0.1")
        return cls(reader, writer)

    async def final(self) -> tuple[int, int]:
        """(messageID, result code) of the next response that ends an operation."""
        while True:
            pdu = self.framer.next()
            if pdu is None:
                data = await self.reader.read(65536)
                if not data:
                    raise ConnectionError("closed")
                self.framer.feed(data)
                continue
            if ber.peek(pdu)[1] not in ber.NOT_FINAL:
                message_id, _, code = protocol.result_code(pdu)
                return message_id, code

    async def bind(self, dn: str, password: bytes) -> int:
        self.writer.write(protocol.bind_request(1, dn, password))
        return (await self.final())[1]

    async def search(self, message_id: int, pdu: bytes) -> int:
        self.writer.write(pdu)
        return (await self.final())[1]

    async def close(self) -> None:
        self.writer.write(bytes.fromhex("30050201") + bytes([0x7F]) + b"\x42\x00")  # unbind, messageID 127
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self.writer.wait_closed()


async def bind_storm(port: int, context: ssl.SSLContext, users: int, concurrency: int, *, inline: bool) -> float:
    """Binds per second: each user once, a new TLS connection per bind."""
    todo = iter(range(users))
    failures: list[int] = []
    step = int(time.time()) // 30

    async def worker() -> None:
        for i in todo:
            password = PASSWORD + (b"," + totp(seed_for(i), step) if inline else b"")
            client = await Client.open(port, context)
            code = await client.bind(f"uid=u{i},{PEOPLE}", password)
            await client.close()
            if code != 0:
                failures.append(code)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} binds refused (result {failures[0]}); a TOTP step boundary? run again")
    return users / elapsed


async def search_latencies(port: int, context: ssl.SSLContext, password: bytes, count: int) -> list[float]:
    client = await Client.open(port, context)
    try:
        if await client.bind(f"uid=u0,{PEOPLE}", password) != 0:
            raise RuntimeError("the search connection's bind was refused")
        pdus = [search_request(2 + (n % 1000), f"uid=u{n % 50},{PEOPLE}") for n in range(count)]
        for pdu in pdus[:50]:  # warm up
            await client.search(0, pdu)
        out = []
        for pdu in pdus:
            started = time.perf_counter()
            if await client.search(0, pdu) != 0:
                raise RuntimeError("a search failed")
            out.append((time.perf_counter() - started) * 1000)
        return out
    finally:
        await client.close()


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def write_config(work: Path, slapd: Slapd, front_port: int) -> Path:
    path = work / "radmfa.toml"
    (work / "clients.conf").write_text("")
    path.write_text(f"""
[radius]
listen = ["127.0.0.1:{free_tcp_port()}"]
accounting_listen = []
clients_file = "clients.conf"
dictionary = "{REPO / 'dictionary'}"

[upstream]
type = "ldap"
servers = ["{slapd.url}"]
start_tls = true
ca_file = "{slapd.pki.ca_file}"
bind_dn = "{SERVICE_DN}"
bind_password = "{SERVICE_PW}"
base_dn = "{BASE_DN}"
pool_size = 8

[store]
url = "sqlite:///radmfa.db"
key_file = "radmfa.key"

[log]
level = "warning"
format = "json"

[ldap_front]
listen = ["ldaps://127.0.0.1:{front_port}"]
cert_file = "{slapd.pki.cert_file}"
key_file = "{slapd.pki.key_file}"
rebind_seconds = 10
max_operations = 64

[ldap_front.clients.bench]
networks = ["127.0.0.0/8"]
max_connections = 1000
""")
    return path


def start_radmfa(config: Path, port: int) -> subprocess.Popen[bytes]:
    log = (config.parent / "radmfa.log").open("ab")
    proc = subprocess.Popen([sys.executable, "-m", "radmfa", "serve", "--config", str(config)],
                            stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError((config.parent / "radmfa.log").read_text())
        try:
            import socket

            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("radmfa's LDAP front end did not listen in time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--searches", type=int, default=2000)
    args = parser.parse_args()
    people = [LdapPerson(f"u{i}", PASSWORD.decode(), mail=f"u{i}@example.org") for i in range(args.users)]
    slapd = Slapd(people, binary="/usr/sbin/slapd").start()
    work = Path(tempfile.mkdtemp(prefix="radmfa-bench-ldap-"))
    front_port = free_tcp_port()
    proc = None
    try:
        config = write_config(work, slapd, front_port)
        seed(work, args.users)
        proc = start_radmfa(config, front_port)
        context = ssl.create_default_context(cafile=str(slapd.pki.ca_file))
        assert slapd.proc is not None
        pids = {"radmfa": proc.pid, "slapd": slapd.proc.pid}
        figures = asyncio.run(measure(args, context, front_port, slapd.ldaps_port, pids))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
        slapd.stop()
    figures["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version()}
    figures["settings"] = vars(args)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))


def cpu_ms(pids: dict[str, int]) -> dict[str, float]:
    return {name: process_cpu_s(pid) * 1000 for name, pid in pids.items()}


async def measure(
    args: argparse.Namespace, context: ssl.SSLContext, front: int, direct: int, pids: dict[str, int]
) -> dict[str, object]:
    """The figures. CPU milliseconds per bind (radmfa's and slapd's own
    processes) say more than binds/s on a machine shared with other work."""
    # Wait for a TOTP step with room for the whole storm (each user's code is used once).
    while int(time.time()) % 30 > 15:
        await asyncio.sleep(0.5)
    before = cpu_ms(pids)
    front_binds = await bind_storm(front, context, args.users, args.concurrency, inline=True)
    middle = cpu_ms(pids)
    direct_binds = await bind_storm(direct, context, args.users, args.concurrency, inline=False)
    after = cpu_ms(pids)
    step = int(time.time()) // 30
    through = await search_latencies(front, context, PASSWORD + b"," + totp(seed_for(0), step + 1), args.searches)
    straight = await search_latencies(direct, context, PASSWORD, args.searches)
    return {
        "front_inline_binds_per_s": round(front_binds),
        "directory_binds_per_s": round(direct_binds),
        "radmfa_cpu_ms_per_bind": round((middle["radmfa"] - before["radmfa"]) / args.users, 2),
        "slapd_cpu_ms_per_bind_through_radmfa": round((middle["slapd"] - before["slapd"]) / args.users, 2),
        "slapd_cpu_ms_per_bind_direct": round((after["slapd"] - middle["slapd"]) / args.users, 2),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "search_p50_ms": {"through": round(pct(through, 50), 3), "direct": round(pct(straight, 50), 3)},
        "search_p99_ms": {"through": round(pct(through, 99), 3), "direct": round(pct(straight, 99), 3)},
        "added_p50_ms": round(pct(through, 50) - pct(straight, 50), 3),
        "added_p99_ms": round(pct(through, 99) - pct(straight, 99), 3),
        "search_mean_ms": {
            "through": round(statistics.mean(through), 3),
            "direct": round(statistics.mean(straight), 3),
        },
    }


if __name__ == "__main__":
    main()

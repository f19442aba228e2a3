"""Where the CPU of one request goes: a per-stage table for a proxied request,
an inline login and a challenge round trip.

    PYTHONPATH=. .venv/bin/python -m bench.stages            # about a minute
    PYTHONPATH=. .venv/bin/python -m bench.stages --requests 3000 --out bench/results/stages.json
    PYTHONPATH=server .venv/bin/python -m bench.stages --repeats 0 --callgrind 60 --storm 4  # + retransmitted copies

radmfa is built in this process from a config like the benchmark's (SQLite
store, the FreeRADIUS "ack" upstream as a real peer, log level warning), on
uvloop, and each flow is driven one request at a time straight into the
service's datagram handler (``RadiusService.receive``) with a transport that
captures the reply: the NAS-side socket calls are not in the figures, the
upstream hop's are.

CPU is measured, not wall time, so the figures hold on a shared machine:

* **totals** come from plain runs (no profiler; ``--repeats``, the one with
  the least CPU is shown: on a shared machine other work inflates CPU time
  too, through caches and shared cores, never deflates it): the event-loop
  thread's CPU (``time.thread_time``) and the whole process's
  (``time.process_time``) per request, minus what the driver itself spends
  building and checking packets;
* **loop-thread stages** come from a second run under cProfile with a CPU
  clock (``thread_time``): the inclusive CPU of each stage's entry points,
  scaled by plain loop CPU / profiled loop CPU (the profiler's own cost is
  spread over every stage alike, which is an approximation);
* **store thread** CPU is timed per store method on that thread around each
  call it runs (no profiler there), with the number of trips per request.

Figures are microseconds of CPU per request (per login for the two-leg flow).
The rest of the loop thread ("event loop, tasks, rest") is what no stage
claims: uvloop's own work, task creation and switching, futures.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.peers.freeradius import FreeRadius  # noqa: E402
from tests.peers.ports import free_udp_port  # noqa: E402

from bench.stack import NAS_SECRET, UPSTREAM_SECRET, Radmfa, seed, write_clients  # noqa: E402
from bench.users import PASSWORD, current_step, seed_for, totp  # noqa: E402
from radmfa.radius import crypto, wire  # noqa: E402

FLOWS = ("proxied", "inline", "challenge")
SECRET = NAS_SECRET.encode()
NAS = ("127.0.0.1", 40000)
_STORE_DIR = str(REPO / "server" / "radmfa" / "store")


@dataclass
class _Capture:
    """The reply transport: the service's sendto lands here."""

    reply: asyncio.Future[bytes] | None = None

    def sendto(self, data: bytes, _addr: object) -> None:
        if self.reply is not None and not self.reply.done():
            self.reply.set_result(data)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1812) if name == "sockname" else default


@dataclass
class _StoreTimer:
    """Wraps the store thread's calls: CPU on that thread and trips, per store method."""

    cpu: dict[str, float] = field(default_factory=dict)
    trips: Counter[str] = field(default_factory=Counter)

    def install(self, store: Any) -> None:
        thread = store._db_thread
        original = thread.call

        def call(fn: Callable[..., Any], *args: Any) -> Any:
            tag = _store_method()
            self.trips[tag] += 1

            def timed(*a: Any) -> Any:
                t0 = time.thread_time()
                try:
                    return fn(*a)
                finally:
                    self.cpu[tag] = self.cpu.get(tag, 0.0) + time.thread_time() - t0

            return original(timed, *args)

        thread.call = call


def _store_method() -> str:
    """The public store method that led to this trip (the first such frame up the stack)."""
    frame = sys._getframe(2)
    while frame is not None:
        code = frame.f_code
        if code.co_filename.startswith(_STORE_DIR) and not code.co_name.startswith("_"):
            return code.co_name
        frame = frame.f_back  # type: ignore[assignment]
    return "other"


class Driver:
    def __init__(self, service: Any, listener_dedup: Any) -> None:
        self.service = service
        self.dedup = listener_dedup
        self.transport = _Capture()
        self.ident = 0
        self.port = NAS[1]
        self.own_cpu = 0.0  # the driver's packet building and checking, subtracted from the totals

    async def send(self, name: bytes, password: bytes, state: bytes | None = None) -> wire.Frame:
        t0 = time.thread_time()
        self.ident = (self.ident + 1) % 256
        if self.ident == 0:
            self.port += 1  # a fresh (address, port, Identifier) key: never a duplicate
        auth = crypto.new_authenticator()
        attrs = [(wire.USER_NAME, name), (wire.USER_PASSWORD, crypto.hide_password(password, SECRET, auth))]
        if state is not None:
            attrs.append((wire.STATE, state))
        data = crypto.sign_request(wire.ACCESS_REQUEST, self.ident, auth, wire.encode_attrs(attrs), SECRET)
        fut = self.transport.reply = asyncio.get_running_loop().create_future()
        self.own_cpu += time.thread_time() - t0
        self.service.receive(data, (NAS[0], self.port), self.transport, self.dedup)
        reply = await asyncio.wait_for(fut, 10)
        t0 = time.thread_time()
        if not crypto.verify_response(reply, auth, SECRET, _ma_offset(reply)):
            raise RuntimeError("a reply did not verify")
        frame = wire.parse(reply)
        self.own_cpu += time.thread_time() - t0
        return frame


def _ma_offset(reply: bytes) -> int:
    pos = wire.HEADER_LEN
    while pos < len(reply):
        if reply[pos] == wire.MESSAGE_AUTHENTICATOR:
            return pos + 2
        pos += reply[pos + 1]
    raise RuntimeError("a reply without Message-Authenticator")


async def _flow(driver: Driver, flow: str, users: range) -> int:
    done = 0
    for i in users:
        step = current_step()  # per login: a slow run (profiled, under valgrind) spans several steps
        if flow == "proxied":
            frame = await driver.send(b"p%d" % i, PASSWORD)
            want = wire.ACCESS_ACCEPT
        elif flow == "inline":
            frame = await driver.send(b"u%d" % i, PASSWORD + b"," + totp(seed_for(i), step))
            want = wire.ACCESS_ACCEPT
        else:
            first = await driver.send(b"u%d" % i, PASSWORD)
            if first.code != wire.ACCESS_CHALLENGE:
                raise RuntimeError(f"{flow}: first leg answered {first.code}, not Access-Challenge")
            frame = await driver.send(b"u%d" % i, totp(seed_for(i), step), first.get(wire.STATE))
            want = wire.ACCESS_ACCEPT
        if frame.code != want:
            raise RuntimeError(f"{flow}: user {i} answered {frame.code}")
        done += 1
    return done


# (label, [(file fragment, function or "*", callers not counted)]): the inclusive
# CPU of the matching functions, counting only calls from outside their own
# file fragment and outside the excluded callers (already counted elsewhere).
_AUDIT = ("service/audit.py",)
_STAGES: list[tuple[str, list[tuple[str, str, tuple[str, ...]]]]] = [
    ("parse (framing, attributes)", [("radius/wire.py", "parse", ())]),
    ("Message-Authenticator check, BlastRADIUS screen", [("radius/blast.py", "screen", ())]),
    ("duplicate cache", [("radius/dedup.py", f, ()) for f in ("replay", "seen", "answered")]),
    ("User-Password unhide, request object", [("service/radius.py", "_request", ())]),
    ("store trips, loop side (SQL built, hand-off, rows to objects)", [("store/", "*", _AUDIT)]),
    ("store results delivered to the loop", [("store/dbthread.py", "_deliver", ())]),
    ("upstream hop (hide, send, receive, verify)", [("upstream/", "*", ())]),
    ("audit record (built, queued, flushed)",
     [("service/radius.py", "_audit", ()), ("service/audit.py", "_run", ()), ("service/audit.py", "flush", ())]),
    ("reply signing (encode, HMAC-MD5, MD5)", [("service/radius.py", "_encode", ())]),
]
_PIPELINE = ("core/pipeline.py", "handle")


def _in(fragment: str, path: str) -> bool:
    """Whether ``path`` is a file under radmfa's package matching ``fragment``
    (``core/`` must not match a checkout directory such as ``wt/p-core/``)."""
    return "/radmfa/" + fragment in path


def _inclusive(stats: dict[Any, Any], where: str, name: str, exclude: tuple[str, ...] = (),
               only_from: tuple[str, ...] = ()) -> float:
    total = 0.0
    for (filename, _line, func), (_cc, _nc, _tt, _ct, callers) in stats.items():  # noqa: B007
        if not _in(where, filename) or (name != "*" and func != name):
            continue
        if where == "store/" and "dbthread.py" in filename:
            continue  # its own row
        if not callers and not only_from:  # called by the event loop itself (a callback, a task step)
            total += _ct
        for caller, (_c, _n, _t, ct) in callers.items():
            cfile = caller[0]
            if (name == "*" and _in(where, cfile)) or any(_in(d, cfile) for d in exclude):
                continue
            if only_from and not any(_in(d, cfile) for d in only_from):
                continue
            total += ct
    return total


def _loop_stages(stats: dict[Any, Any], per: int) -> dict[str, float]:
    out: dict[str, float] = {}
    for label, entries in _STAGES:
        out[label] = sum(_inclusive(stats, where, name, exclude) for where, name, exclude in entries) / per
    handle = _inclusive(stats, *_PIPELINE)
    # the store and upstream work the pipeline awaits is counted in its own rows
    inner = sum(_inclusive(stats, where, "*", only_from=("core/", "factors/")) for where in ("store/", "upstream/"))
    out["pipeline rules and TOTP check (core/, factors/)"] = max(0.0, handle - inner) / per
    return out


async def _run(workdir: Path, n: int, profile: bool, base: int, dump: Path | None = None) -> dict[str, Any]:
    from radmfa import config as config_mod
    from radmfa.service.app import build
    from radmfa.service.audit import configure_logging
    from radmfa.service.radius import Listener

    cfg = config_mod.load(workdir / "stages.toml")
    configure_logging(cfg.log)
    app = await build(cfg)
    _as_serve_does()
    app.audit.start()
    listener = Listener(app.service)
    timer = _StoreTimer()
    if profile:
        timer.install(app.store)
    driver = Driver(app.service, listener.dedup)
    results: dict[str, Any] = {}
    try:
        await _flow(driver, "proxied", range(base, base + 50))  # warm up: upstream socket, statements
        for k, flow in enumerate(FLOWS):
            users = range(base + (k + 1) * n, base + (k + 2) * n)
            await app.audit.flush()
            timer.cpu.clear()
            timer.trips.clear()
            driver.own_cpu = 0.0
            prof = cProfile.Profile(time.thread_time) if profile else None
            loop0, proc0 = time.thread_time(), time.process_time()
            if prof is not None:
                prof.enable()
            await _flow(driver, flow, users)
            await app.audit.flush()  # the audit rows' store write is part of each request
            if prof is not None:
                prof.disable()
            loop_cpu = time.thread_time() - loop0 - driver.own_cpu
            proc_cpu = time.process_time() - proc0 - driver.own_cpu
            entry: dict[str, Any] = {
                "requests": n,
                "loop_us": loop_cpu / n * 1e6,
                "process_us": proc_cpu / n * 1e6,
            }
            if prof is not None:
                if dump is not None:
                    dump.mkdir(parents=True, exist_ok=True)
                    prof.dump_stats(dump / f"{flow}.pstats")
                stats: dict[Any, Any] = pstats.Stats(prof).stats  # type: ignore[attr-defined]
                entry["loop_stages_us"] = {k2: v * 1e6 for k2, v in _loop_stages(stats, n).items()}
                entry["store_thread_us"] = {k2: v / n * 1e6 for k2, v in sorted(timer.cpu.items())}
                entry["store_trips"] = {k2: v / n for k2, v in sorted(timer.trips.items())}
            results[flow] = entry
    finally:
        await app.close()
    return results


def _as_serve_does() -> None:
    """What serve() sets up after build() for the process (the collector's
    thresholds); nothing on code from before it did, so a "before" arm runs
    this same file with ``PYTHONPATH=<older code>/server``."""
    from radmfa.service import app

    tune = getattr(app, "tune_gc", None)
    if tune is not None:
        tune()


def _config(workdir: Path, upstream: tuple[str, int]) -> None:
    Radmfa(workdir, "stages", free_udp_port(), upstream, 1).write_config()


class _Postgres:
    """A throwaway database on the tests' PostgreSQL server, as bench/postgres_store.py makes one."""

    def __init__(self) -> None:
        import secrets

        self.name = "radmfa_stages_" + secrets.token_hex(4)
        self.created = False

    def create(self, workdir: Path, upstream: tuple[str, int], users: int) -> None:
        from bench.postgres_store import ADMIN_URL, PostgresRadmfa, _admin, _seed, _with_database

        url = _with_database(ADMIN_URL, self.name)
        asyncio.run(_admin(f'CREATE DATABASE "{self.name}"'))
        self.created = True
        PostgresRadmfa(workdir, "stages", free_udp_port(), upstream, 1, store_url=url).write_config()
        asyncio.run(_seed(url, workdir, users))

    def drop(self) -> None:
        from bench.postgres_store import _admin

        if self.created:
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))


def measure(n: int, repeats: int = 3, dump: Path | None = None) -> dict[str, Any]:
    import uvloop

    workdir = Path(tempfile.mkdtemp(prefix="radmfa-stages-"))
    ack = FreeRadius.ack(None, UPSTREAM_SECRET)
    try:
        ack.start()
        write_clients(workdir)
        _config(workdir, ack.address)
        seed(workdir, 4 * n * (repeats + 1) + 100)
        # the plain runs give the totals (the least disturbed of a few: CPU time is noisy on a shared machine)
        plains = [uvloop.run(_run(workdir, n, False, 4 * n * r)) for r in range(repeats)]
        profiled = uvloop.run(_run(workdir, n, True, 4 * n * repeats, dump))
    finally:
        ack.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return combine(plains, profiled)


# ---- instructions (callgrind): repeatable on a shared machine ----

_CG_SOURCE = """#include <valgrind/callgrind.h>
void radmfa_cg_zero(void) { CALLGRIND_ZERO_STATS; }
void radmfa_cg_dump(const char *what) { CALLGRIND_DUMP_STATS_AT(what); }
void radmfa_cg_toggle(void) { CALLGRIND_TOGGLE_COLLECT; }
"""


def _cg_library(workdir: Path) -> Path:
    """A two-function C library: callgrind's client requests (no-ops outside valgrind)."""
    src, lib = workdir / "cg.c", workdir / "cg.so"
    src.write_text(_CG_SOURCE)
    subprocess.run(["gcc", "-shared", "-fPIC", "-O1", "-o", str(lib), str(src)], check=True)  # noqa: S603, S607
    return lib


class _Storm:
    """Retransmitted copies through the socket path a NAS's datagrams take:
    a NAS socket on loopback sends each request, then ``copies``
    byte-identical copies of it (same source port), and radmfa's UDP
    endpoint (service/udp.py) reads them with the real ``recvfrom`` and hands
    them to the listener, one wake-up per copy (a storm spaces its copies
    5, 50 and 200 ms apart). Only the endpoint's handling of the copies is
    counted (callgrind's collection is switched on around each wake-up):
    while the request is pending (dropped) and after it was answered (the
    cached reply resent). User-space instructions: the kernel's share of
    recvfrom and sendto is not in them."""

    def __init__(self, app: Any, cg: Any, copies: int) -> None:
        import socket

        from radmfa.service.radius import Listener
        from radmfa.service.udp import UdpEndpoint

        self.app, self.cg, self.copies = app, cg, copies
        self.listener = Listener(app.service)
        self.endpoint = UdpEndpoint.bind("127.0.0.1", 0, self.listener.datagram_received)
        self.listener.transport = self.endpoint
        self.server = self.endpoint.get_extra_info("sockname")
        self.nas = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.nas.bind(("127.0.0.1", 0))
        self.nas.setblocking(False)
        self.ident = 0
        self.batched = False  # every copy read in one wake-up (a loaded loop), not one each

    def close(self) -> None:
        self.endpoint.close()
        self.nas.close()

    def _request(self, i: int) -> tuple[bytes, bytes]:
        self.ident = (self.ident + 1) % 256
        auth = crypto.new_authenticator()
        attrs = [(wire.USER_NAME, b"p%d" % i), (wire.USER_PASSWORD, crypto.hide_password(PASSWORD, SECRET, auth))]
        return crypto.sign_request(wire.ACCESS_REQUEST, self.ident, auth, wire.encode_attrs(attrs), SECRET), auth

    def _copies(self, data: bytes) -> None:
        """Each copy sent, then read in a wake-up of its own; only the reading is counted."""
        readable, toggle, send = self.endpoint._readable, self.cg.radmfa_cg_toggle, self.nas.sendto
        if self.batched:
            for _ in range(self.copies):
                send(data, self.server)
            toggle()
            readable()
            toggle()
            return
        for _ in range(self.copies):
            send(data, self.server)
            toggle()
            readable()
            toggle()

    async def run(self, users: range, *, answered_first: bool, count: bool = True) -> None:
        """``answered_first``: the copies come after the reply (resent), else while pending (dropped)."""
        loop = asyncio.get_running_loop()
        copies = self._copies if count else self._uncounted
        for i in users:
            data, auth = self._request(i)
            self.nas.sendto(data, self.server)
            self.endpoint._readable()  # the original: admitted, its task not yet run
            if not answered_first:
                copies(data)
            reply = await asyncio.wait_for(loop.sock_recv(self.nas, 4096), 10)
            if not crypto.verify_response(reply, auth, SECRET, _ma_offset(reply)):
                raise RuntimeError("a reply did not verify")
            if answered_first:
                copies(data)
                for _ in range(self.copies):  # each copy got the cached reply, byte for byte
                    if self.nas.recv(4096) != reply:
                        raise RuntimeError("a copy got other bytes than the reply")

    def _uncounted(self, data: bytes) -> None:
        for _ in range(self.copies):
            self.nas.sendto(data, self.server)
            self.endpoint._readable()

    def toggles(self, times: int) -> None:
        """The switching itself (counted half on, half off): subtracted."""
        toggle = self.cg.radmfa_cg_toggle
        for _ in range(times):
            toggle()
            toggle()


async def _cg_storm(app: Any, cg: Any, n: int, copies: int, base: int) -> None:
    storm = _Storm(app, cg, copies)
    try:
        await storm.run(range(base, base + 20), answered_first=False, count=False)  # warm up
        await storm.run(range(base, base + 20), answered_first=True, count=False)
        for name, answered_first, batched in (("storm_pending", False, False), ("storm_answered", True, False),
                                              ("storm_pending_batched", False, True)):
            storm.batched = batched
            cg.radmfa_cg_zero()
            cg.radmfa_cg_toggle()  # off: only the copies' wake-ups are counted
            await storm.run(range(base, base + n), answered_first=answered_first)
            cg.radmfa_cg_toggle()
            cg.radmfa_cg_dump(name.encode())
        cg.radmfa_cg_zero()
        cg.radmfa_cg_toggle()
        storm.toggles(n * copies)
        cg.radmfa_cg_toggle()
        cg.radmfa_cg_dump(b"storm_toggles")
    finally:
        storm.close()
        await app.audit.flush()


async def _cg_child(workdir: Path, n: int, base: int, lib: Path, storm: int = 0) -> None:
    """Under callgrind: each flow's instructions between a zero and a dump."""
    import ctypes

    from radmfa import config as config_mod
    from radmfa.service.app import build
    from radmfa.service.audit import configure_logging
    from radmfa.service.radius import Listener

    cg = ctypes.CDLL(str(lib))
    cfg = config_mod.load(workdir / "stages.toml")
    configure_logging(cfg.log)
    app = await build(cfg)
    _as_serve_does()
    # The rows are written by the explicit flush after each flow, one batch
    # of N: the sink's timer (every 0.2 s of wall time, many times per flow
    # under valgrind) would write small batches whose count depends on
    # valgrind's speed, and their fixed cost would swamp the rows'.
    app.audit.interval_s = 3600.0
    app.audit.start()
    driver = Driver(app.service, Listener(app.service).dedup)
    try:
        await _flow(driver, "proxied", range(base, base + 20))  # warm up
        await _flow(driver, "inline", range(base, base + 20))
        await app.audit.flush()
        for k, flow in enumerate(FLOWS):
            users = range(base + (k + 1) * n, base + (k + 2) * n)
            cg.radmfa_cg_zero()
            await _flow(driver, flow, users)
            await app.audit.flush()
            cg.radmfa_cg_dump(flow.encode())
        # What the driver itself costs per request (building, signing, checking): subtracted.
        auth = crypto.new_authenticator()
        sample = crypto.sign_response(wire.ACCESS_ACCEPT, 1, auth, wire.encode_attrs([]), SECRET)
        sample_ma = _ma_offset(sample)  # as the driver checks a reply
        cg.radmfa_cg_zero()
        for i in range(n):
            data = crypto.sign_request(wire.ACCESS_REQUEST, i % 256, auth, wire.encode_attrs(
                [(wire.USER_NAME, b"u%d" % i), (wire.USER_PASSWORD, crypto.hide_password(PASSWORD, SECRET, auth))]),
                SECRET)
            crypto.verify_response(sample, auth, SECRET, sample_ma)
            wire.parse(sample)
            del data
        cg.radmfa_cg_dump(b"driver")
        if storm:
            await _cg_storm(app, cg, n, storm, base + 5 * n)
    finally:
        await app.close()


def _cg_totals(path: Path) -> int:
    for line in path.read_text().splitlines():
        if line.startswith(("totals:", "summary:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {path}")


_STORM_DUMPS = ("storm_pending", "storm_answered", "storm_pending_batched", "storm_toggles")


def instructions(n: int, store: str = "sqlite", loop_thread: bool = False, storm: int = 0) -> dict[str, Any]:
    """Instructions per request of each flow (all threads of radmfa's process,
    not the database server's), under callgrind. ``loop_thread``: the event
    loop's thread only (the one that bounds a worker's throughput; callgrind
    --separate-threads, whose client-request dumps hold that thread's counts)."""
    workdir = Path(tempfile.mkdtemp(prefix="radmfa-stages-cg-"))
    ack = FreeRadius.ack(None, UPSTREAM_SECRET)
    database = _Postgres() if store == "postgres" else None
    try:
        ack.start()
        write_clients(workdir)
        if database is None:
            _config(workdir, ack.address)
            seed(workdir, 4 * n + 100)
        else:
            database.create(workdir, ack.address, 4 * n + 100)
        _cg_library(workdir)
        out = workdir / "cg.out"
        child = subprocess.run(  # noqa: S603
            ["valgrind", "--tool=callgrind", "--collect-atstart=yes", f"--callgrind-out-file={out}",
             *(["--separate-threads=yes"] if loop_thread else []),
             sys.executable, "-m", "bench.stages", "--cg-child", str(workdir), "--requests", str(n),
             "--storm", str(storm)],
            check=False, cwd=REPO, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=3600,
        )
        if child.returncode != 0:
            raise RuntimeError(f"the run under callgrind failed:\n{child.stderr[-3000:]}")
        # cg.out.<dump>, or cg.out.<dump>-<thread> with --separate-threads (01: the event loop's)
        dumps = sorted(workdir.glob("cg.out.*-01" if loop_thread else "cg.out.*"),
                       key=lambda p: int(p.name.rsplit(".", 1)[1].split("-")[0]))
        counts = {}
        for path in dumps:
            text = path.read_text(errors="replace")
            # the dump's "desc: Trigger: Client Request: <name>" line names the flow
            name = next((ln.rpartition("Client Request: ")[2].strip() for ln in text.splitlines()
                         if "Client Request: " in ln), "")
            if name in (*FLOWS, "driver", *_STORM_DUMPS):
                counts[name] = _cg_totals(path)
    finally:
        ack.stop()
        if database is not None:
            database.drop()
        shutil.rmtree(workdir, ignore_errors=True)
    driver = counts.get("driver", 0) / n
    result = {}
    for flow in FLOWS:
        legs = 2 if flow == "challenge" else 1
        key = "loop_thread_instructions_per_request" if loop_thread else "instructions_per_request"
        result[flow] = {key: round(counts[flow] / n - legs * driver),
                        "driver_instructions_subtracted": round(legs * driver)}
    if storm:
        copies = n * storm
        toggles = counts["storm_toggles"] / copies
        result["storm"] = {
            "copies_per_request": storm,
            "duplicate_pending_instructions_per_copy": round(counts["storm_pending"] / copies - toggles),
            "duplicate_resent_instructions_per_copy": round(counts["storm_answered"] / copies - toggles),
            # all the copies read in one wake-up: one toggle pair per request, not per copy
            "duplicate_pending_batched_instructions_per_copy":
                round((counts["storm_pending_batched"] - n * toggles) / copies),
            "toggle_instructions_subtracted": round(toggles),
        }
    return result


def combine(plains: list[dict[str, Any]], profiled: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for flow in FLOWS:
        runs = sorted((r[flow] for r in plains), key=lambda e: e["process_us"])
        p, q = runs[0], profiled[flow]  # the least disturbed run: other work only ever adds CPU time
        scale = p["loop_us"] / q["loop_us"]  # the profiler's overhead, spread evenly
        stages = {k: v * scale for k, v in q["loop_stages_us"].items()}
        stages["event loop, tasks, rest"] = max(0.0, p["loop_us"] - sum(stages.values()))
        store = q["store_thread_us"]
        out[flow] = {
            "process_cpu_us": round(p["process_us"], 1),
            "loop_thread_cpu_us": round(p["loop_us"], 1),
            "other_threads_cpu_us": round(p["process_us"] - p["loop_us"], 1),
            "loop_stages_us": {k: round(v, 1) for k, v in stages.items()},
            "store_thread_us": {k: round(v, 1) for k, v in store.items()},
            "store_trips_per_request": q["store_trips"],
            "profiler_overhead": round(q["loop_us"] / p["loop_us"], 2),
            "process_cpu_us_runs": [round(r["process_us"], 1) for r in runs],
        }
    return out


def markdown(doc: dict[str, Any]) -> str:
    flows = [f for f in FLOWS if f in doc]
    counted = [f for f in flows if "instructions_per_request" in doc[f]]
    storm = doc.get("storm")
    tail = "" if storm is None else (
        f"a retransmitted copy ({storm['copies_per_request']} a request, one wake-up each): "
        f"{storm['duplicate_pending_instructions_per_copy']:,} instructions while pending (dropped), "
        f"{storm['duplicate_resent_instructions_per_copy']:,} once answered (reply resent); "
        f"{storm['duplicate_pending_batched_instructions_per_copy']:,} while pending when all are read "
        f"in one wake-up\n")
    if not any("loop_stages_us" in doc[f] for f in flows):  # --repeats 0: instructions only
        return tail + "".join(
            f"{f}: {doc[f][key]:,} instructions per request{label}\n"
            for f in flows
            for key, label in (("instructions_per_request", ""),
                               ("loop_thread_instructions_per_request", " (event-loop thread)"))
            if key in doc[f]
        )

    def row(label: str, cells: list[str]) -> str:
        return f"| {label} | " + " | ".join(cells) + " |"

    lines = [row("stage", flows), "|---|" + "---:|" * len(flows)]
    for label in doc[flows[0]]["loop_stages_us"]:
        lines.append(row(label, [f"{doc[f]['loop_stages_us'].get(label, 0):.0f}" for f in flows]))
    lines.append(row("**event-loop thread**", [f"**{doc[f]['loop_thread_cpu_us']:.0f}**" for f in flows]))
    for m in sorted({m for f in flows for m in doc[f]["store_thread_us"]}):
        cells = [f"{doc[f]['store_thread_us'].get(m, 0):.0f} ({doc[f]['store_trips_per_request'].get(m, 0):.2g})"
                 for f in flows]
        lines.append(row(f"store thread: `{m}` (trips)", cells))
    lines.append(row("**store thread and the rest**", [f"**{doc[f]['other_threads_cpu_us']:.0f}**" for f in flows]))
    lines.append(row("**process**", [f"**{doc[f]['process_cpu_us']:.0f}**" for f in flows]))
    if counted:
        lines.append(row("instructions per request (callgrind, all threads)",
                         [f"{doc[f].get('instructions_per_request', 0):,}" for f in flows]))
    return "\n".join(lines) + "\n" + tail


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=2000, help="requests (logins) per flow and run")
    p.add_argument("--repeats", type=int, default=3, help="plain runs; the one with the least CPU is shown")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "stages.json")
    p.add_argument("--dump", type=Path, help="also write each flow's cProfile stats (pstats files) here")
    p.add_argument("--callgrind", type=int, metavar="N", default=0,
                   help="also count instructions per request under valgrind's callgrind, N requests a flow")
    p.add_argument("--cg-loop-thread", action="store_true",
                   help="with --callgrind: count the event loop's thread only, not every thread")
    p.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite",
                   help="the store for --callgrind (postgres: a throwaway database on RADMFA_TEST_POSTGRES_URL's "
                        "server; the plain and profiled runs are SQLite's)")
    p.add_argument("--storm", type=int, metavar="K", default=0,
                   help="with --callgrind: also count the instructions of each of K retransmitted copies of a "
                        "request read from a real UDP socket, while it is pending and after it was answered")
    p.add_argument("--cg-child", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.cg_child is not None:
        import uvloop

        uvloop.run(_cg_child(args.cg_child, args.requests, 0, args.cg_child / "cg.so", args.storm))
        return 0
    doc = measure(args.requests, args.repeats, args.dump) if args.repeats else {f: {} for f in FLOWS}
    if args.callgrind:
        for flow, counted in instructions(args.callgrind, args.store, args.cg_loop_thread, args.storm).items():
            doc.setdefault(flow, {}).update(counted)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"stages": doc, "requests": args.requests,
                                    "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, indent=2) + "\n")
    print(markdown(doc))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

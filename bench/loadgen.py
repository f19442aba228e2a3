"""The load generator for the two-step flows (and anything radclient cannot do).

Several processes (fork), each with a few non-blocking UDP sockets (several
source ports, so SO_REUSEPORT spreads them over radmfa's workers), keep a
window of logins in flight (closed loop) or start them on a fixed schedule
(open loop, for latency). Only replies whose Response Authenticator and
Message-Authenticator verify (RFC 2865 §3, RFC 3579 §3.2) and that carry the
expected code are counted.

Kinds of login:
  pass    unknown user, password only: Access-Request → Access-Accept
  totp    Access-Request → Access-Challenge → Access-Request with State and
          the current TOTP code → Access-Accept
  inline  one Access-Request whose password is "password,code" → Access-Accept
  open    the first leg of a TOTP login only → Access-Challenge (left open)

TOTP users and the replay guard: bench/users.py.
"""

from __future__ import annotations

import heapq
import multiprocessing
import os
import queue
import selectors
import socket
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.users import IN_FLIGHT, MAX_PROCESSES, PASSWORD, PERIOD, Population, current_step, seed_for, totp
from radmfa.radius import crypto, wire

RELEASE_AFTER_S = 0.2  # an Identifier stays reserved this long after a request's last copy

_ACCEPT, _CHALLENGE = wire.ACCESS_ACCEPT, wire.ACCESS_CHALLENGE
_POPULATION_KINDS = ("totp", "inline", "open")  # the kinds that log in as enrolled users


@dataclass(frozen=True)
class Job:
    kind: str  # "pass" | "totp" | "inline" | "open"
    server: tuple[str, int]
    secret: bytes
    processes: int = 2
    duration_s: float = 10.0  # measured time, after the warm-up
    warmup_s: float = 1.0
    window: int = 64  # logins in flight per process (closed loop)
    rate: float = 0.0  # logins/s over all processes (open loop); 0 = closed loop
    total: int = 0  # logins to start over all processes (0 = until the time is up)
    copies: tuple[float, ...] = (0.0,)  # when each copy of a request goes out (s after the first)
    sockets: int = 8  # source ports per process: SO_REUSEPORT hashes each to one worker
    timeout_s: float = 3.0
    require_ma: bool = True  # radmfa always signs its replies with Message-Authenticator
    record_latency: bool = False
    source: str = "127.0.0.1"  # the NAS's address (another loopback address is another client)


@dataclass
class Outcome:
    logins: int = 0  # completed as expected inside the measured window
    completed: int = 0  # completed as expected at any time
    started: int = 0
    rejected: int = 0  # an Access-Reject, or a code other than expected
    lost: int = 0  # no verified reply within timeout_s
    bad: int = 0  # replies that failed verification
    stray: int = 0  # replies to no request in flight (late duplicates)
    duplicate_replies: int = 0  # further verified replies to an answered request
    requests: int = 0  # distinct requests sent
    packets: int = 0  # datagrams sent, copies included
    stalled_s: float = 0.0  # time with no unused user for the current TOTP step
    cpu_s: float = 0.0  # this generator's own CPU time (user + system)
    wall_s: float = 0.0  # from the start to the last new login (warm-up included)
    measured_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)

    def merge(self, other: Outcome) -> None:
        for name, value in asdict(other).items():
            if name == "latencies_ms":
                self.latencies_ms.extend(value)
            elif name in ("wall_s", "measured_s"):
                setattr(self, name, max(getattr(self, name), value))
            else:
                setattr(self, name, getattr(self, name) + value)

    @property
    def rate(self) -> float:
        return self.logins / self.measured_s if self.measured_s else 0.0


class _Login:
    __slots__ = ("user", "name", "leg", "t0")

    def __init__(self, user: int, name: bytes, t0: float) -> None:
        self.user, self.name, self.leg, self.t0 = user, name, 1, t0


class _Req:
    __slots__ = ("login", "sock", "ident", "auth", "data", "copies_left", "done")

    def __init__(self, login: _Login, sock: int, ident: int, auth: bytes, data: bytes) -> None:
        self.login, self.sock, self.ident, self.auth, self.data = login, sock, ident, auth, data
        self.copies_left = 0
        self.done = False  # answered or timed out


class Generator:
    """One process's share of a Job."""

    def __init__(self, job: Job, population: Population | None, index: int, slot: int | None = None,
                 slots: int | None = None) -> None:
        """``index``: this process among ``job``'s; ``slot`` among ``slots``,
        all processes of the jobs run together on ``population`` (default:
        ``index`` among ``job.processes``). Each slot has its own users and
        cursor: the shared arrays have no lock, so two processes picking from
        the same users could both take one in the same TOTP step, and the
        replay guard rightly refuses the second."""
        self.job, self.pop, self.index = job, population, index
        self.slot = index if slot is None else slot
        slots = job.processes if slots is None else slots
        self.out = Outcome()
        self.socks = [_socket(job.source) for _ in range(job.sockets)]
        self.free = [deque(range(256)) for _ in self.socks]
        self.inflight: list[dict[int, _Req]] = [{} for _ in self.socks]
        self.timers: list[tuple[float, int, int, _Req]] = []
        self.seq = 0
        self.active = 0
        self.next_sock = 0
        self.quota = _share(job.total, job.processes, index)
        self.blocked_until = 0.0
        self.my_users = range(self.slot, population.size, slots) if population else range(0)
        self.selector = selectors.DefaultSelector()
        for i, s in enumerate(self.socks):
            self.selector.register(s, selectors.EVENT_READ, i)

    # ---- the loop ----

    def run(self, start_at: float) -> Outcome:
        job = self.job
        while time.monotonic() < start_at:
            time.sleep(min(0.01, max(0.0, start_at - time.monotonic())))
        cpu0 = _cpu()
        self.measure_from = start_at + job.warmup_s
        self.end = self.measure_from + job.duration_s
        interval = job.processes / job.rate if job.rate else 0.0
        next_due = start_at
        stop_at = 0.0
        while True:
            now = time.monotonic()
            if not stop_at and (now >= self.end or (self.quota and self.out.started >= self.quota)):
                stop_at = now + min(job.timeout_s, 2.0)  # drain replies still on their way
                self.out.cpu_s = _cpu() - cpu0
                self.out.wall_s = now - start_at
            if not stop_at:
                if interval:
                    while next_due <= now and now >= self.blocked_until:
                        self.start_login(next_due)
                        next_due += interval
                else:
                    while self.active < job.window and now >= self.blocked_until:
                        if not self.start_login(now) or (self.quota and self.out.started >= self.quota):
                            break
            self.fire_timers(now)
            if stop_at and (now >= stop_at or not any(self.inflight)):
                break
            wait = 0.02 if not self.timers else max(0.0, min(0.02, self.timers[0][0] - now))
            if interval and not stop_at:
                wait = max(0.0, min(wait, next_due - now))
            for key, _ in self.selector.select(wait):
                self.drain(key.data)
        self.out.measured_s = min(job.duration_s, max(0.0, min(time.monotonic(), self.end) - self.measure_from))
        self.close()
        return self.out

    def close(self) -> None:
        self.selector.close()
        for s in self.socks:
            s.close()

    # ---- starting logins and sending ----

    def start_login(self, t0: float) -> bool:
        user = self.pick_user(t0)
        if user is None:
            return False
        name = (b"pt%d" if self.job.kind == "pass" else b"u%d") % user
        login = _Login(user, name, t0)
        self.active += 1
        self.out.started += 1
        if self.job.kind == "inline":
            step = current_step()
            self.pop.last_step[user] = step  # type: ignore[union-attr]
            self.send(login, PASSWORD + b"," + totp(seed_for(user), step), None)
        else:
            self.send(login, PASSWORD, None)
        return True

    def pick_user(self, now: float) -> int | None:
        if self.job.kind == "pass":
            return self.index + self.job.processes * self.out.started
        if self.job.kind == "open":
            users = self.my_users
            return users[self.out.started % len(users)]
        assert self.pop is not None
        users, cursor, last = self.my_users, self.pop.cursor, self.pop.last_step
        step = current_step()
        for _ in range(len(users)):
            k = int(cursor[self.slot]) % len(users)
            cursor[self.slot] = k + 1
            user: int = users[k]
            if last[user] < step:
                last[user] = IN_FLIGHT
                return user
        # Every user of this process logged in during this step: wait for the next.
        wait = (step + 1) * PERIOD - time.time()
        self.blocked_until = now + wait
        self.out.stalled_s += max(0.0, min(wait, self.end - now))
        return None

    def send(self, login: _Login, password: bytes, state: bytes | None) -> None:
        i = self.next_sock = (self.next_sock + 1) % len(self.socks)
        if not self.free[i]:
            i = next(j for j, f in enumerate(self.free) if f)  # window ≤ 256 × sockets
        ident = self.free[i].popleft()
        auth = crypto.new_authenticator()
        hidden = crypto.hide_password(password, self.job.secret, auth)
        attrs = [(wire.USER_NAME, login.name), (wire.USER_PASSWORD, hidden)]
        if state is not None:
            attrs.append((wire.STATE, state))
        data = crypto.sign_request(wire.ACCESS_REQUEST, ident, auth, wire.encode_attrs(attrs), self.job.secret)
        req = _Req(login, i, ident, auth, data)
        self.inflight[i][ident] = req
        self.out.requests += 1
        now = time.monotonic()
        for offset in self.job.copies:
            if offset <= 0:
                self.transmit(req)
            else:
                req.copies_left += 1
                self.push(now + offset, 1, req)
        self.push(now + self.job.timeout_s, 0, req)

    def transmit(self, req: _Req) -> None:
        try:
            self.socks[req.sock].sendto(req.data, self.job.server)
            self.out.packets += 1
        except (BlockingIOError, ConnectionRefusedError):
            pass  # counted as lost when it times out

    def push(self, due: float, what: int, req: _Req) -> None:
        self.seq += 1
        heapq.heappush(self.timers, (due, self.seq, what, req))

    def fire_timers(self, now: float) -> None:
        timers = self.timers
        while timers and timers[0][0] <= now:
            _, _, what, req = heapq.heappop(timers)
            if what == 1:  # one more copy, same bytes from the same port
                req.copies_left -= 1
                self.transmit(req)
                if req.done and not req.copies_left:  # keep the Identifier for replies to this copy
                    self.push(now + RELEASE_AFTER_S, 2, req)
            elif what == 2:
                self.release(req)
            elif not req.done:  # timeout
                req.done = True
                self.out.lost += 1
                self.abandon(req.login)
                self.release(req)

    def release(self, req: _Req) -> None:
        if req.copies_left == 0 and self.inflight[req.sock].get(req.ident) is req:
            del self.inflight[req.sock][req.ident]
            self.free[req.sock].append(req.ident)

    # ---- replies ----

    def drain(self, i: int) -> None:
        sock = self.socks[i]
        while True:
            try:
                data = sock.recv(4096)
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionRefusedError:
                continue
            self.on_reply(i, data)

    def on_reply(self, i: int, data: bytes) -> None:
        req = self.inflight[i].get(data[1]) if len(data) >= 20 else None
        if req is None:
            self.out.stray += 1
            return
        try:
            frame = wire.parse(data)
        except wire.Malformed:
            self.out.bad += 1
            return
        if not crypto.verify_response(frame.data, req.auth, self.job.secret, frame.ma_offset):
            self.out.stray += 1  # most likely a late reply to an earlier user of this Identifier
            return
        if self.job.require_ma and frame.ma_offset < 0:
            self.out.bad += 1
            return
        if req.done:
            self.out.duplicate_replies += 1
            return
        req.done = True
        self.release(req)
        self.advance(req.login, frame)

    def advance(self, login: _Login, frame: wire.Frame) -> None:
        kind = self.job.kind
        if kind in ("totp", "open") and login.leg == 1:
            state = frame.get(wire.STATE)
            if frame.code != _CHALLENGE or state is None:
                return self.fail(login)
            if kind == "open":
                return self.finish(login)
            login.leg = 2
            step = current_step()
            self.pop.last_step[login.user] = step  # type: ignore[union-attr]
            return self.send(login, totp(seed_for(login.user), step), state)
        if frame.code != _ACCEPT:
            return self.fail(login)
        self.finish(login)

    def finish(self, login: _Login) -> None:
        self.active -= 1
        now = time.monotonic()
        self.out.completed += 1
        if self.measure_from <= now <= self.end:
            self.out.logins += 1
        if self.job.record_latency and login.t0 >= self.measure_from:
            self.out.latencies_ms.append((now - login.t0) * 1000.0)

    def fail(self, login: _Login) -> None:
        self.out.rejected += 1
        self.abandon(login)

    def abandon(self, login: _Login) -> None:
        self.active -= 1
        if self.pop is not None and self.job.kind in ("totp", "inline"):
            # The server may or may not have used this step: leave the user alone until the next.
            self.pop.last_step[login.user] = current_step()


def _socket(source: str) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((source, 0))
    s.setblocking(False)
    return s


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def _share(total: int, parts: int, index: int) -> int:
    return total // parts + (1 if index < total % parts else 0)


def _child(job: Job, population: Population | None, index: int, start_at: float, results: Any,
           number: int = 0, slot: int | None = None, slots: int | None = None) -> None:
    try:
        outcome = Generator(job, population, index, slot, slots).run(start_at)
        results.put((number, asdict(outcome), None))
    except BaseException as e:  # report, never hang the parent
        results.put((number, None, repr(e)))


def processes_of(jobs: list[Job]) -> list[tuple[int, int, int | None, int | None]]:
    """The processes run_together forks: (job number, index in the job,
    slot, slots). One slot (users and cursor of its own) per process of the
    jobs that log in as the population: two jobs' processes of the same index
    must not pick from the same users."""
    sharing = [job.processes if job.kind in _POPULATION_KINDS else 0 for job in jobs]
    slots = sum(sharing)
    if slots > MAX_PROCESSES:
        raise ValueError(f"at most {MAX_PROCESSES} load generator processes share a population")
    found: list[tuple[int, int, int | None, int | None]] = []
    for n, job in enumerate(jobs):
        for i in range(job.processes):
            found.append((n, i, sum(sharing[:n]) + i, slots) if sharing[n] else (n, i, None, None))
    return found


def run(job: Job, population: Population | None = None) -> Outcome:
    """Run ``job`` in ``job.processes`` forked processes and add up what they saw."""
    return run_together([job], population)[0]


def run_together(jobs: list[Job], population: Population | None = None) -> list[Outcome]:
    """Run several jobs at once (e.g. two NASes), all clocks started together; one Outcome per job."""
    for job in jobs:
        if job.kind in _POPULATION_KINDS and population is None:
            raise ValueError(f"a {job.kind!r} job needs the enrolled population")
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    start_at = time.monotonic() + 0.3  # every process starts its clock together
    procs = [ctx.Process(target=_child, args=(jobs[n], population, i, start_at, results, n, slot, slots),
                         daemon=True)
             for n, i, slot, slots in processes_of(jobs)]
    totals = [Outcome() for _ in jobs]
    errors = []
    try:
        for p in procs:
            p.start()
        deadline = start_at + max(j.warmup_s + j.duration_s + j.timeout_s for j in jobs) + 30.0
        for _ in procs:
            try:
                number, outcome, error = results.get(timeout=max(1.0, deadline - time.monotonic()))
            except queue.Empty:
                errors.append("a load generator process did not report in time")
                break
            if error:
                errors.append(error)
            else:
                totals[number].merge(Outcome(**outcome))
    finally:
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
                p.join()
    if population is not None:  # logins cut short at the end: their step may be used
        step, last = current_step(), population.last_step
        for i in range(population.size):
            if last[i] == IN_FLIGHT:
                last[i] = step
    if errors:
        raise RuntimeError("load generator failed: " + "; ".join(errors))
    return totals

"""The store going away under load: radmfa fails closed and recovers by itself.

A private PostgreSQL (never the machine's shared one) is stopped and started
again while NASes keep sending logins. ``unknown_users = "password-only"``
makes the danger real: bob is not enrolled, so with a store that says so his
password alone gets in; with no store, nothing may.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from dataclasses import dataclass, field

import asyncpg
import pytest

from radmfa.radius import crypto, wire
from tests.integration.harness import NAS_SECRET, Radmfa, access_request
from tests.integration.test_foundation import upstream_cfg
from tests.peers.postgres import run
from tests.peers.rawnas import RawNas

pytestmark = pytest.mark.integration

ANSWER_WAIT_S = 60.0  # a reply normally takes milliseconds; the machine may be busy
LOAD_THREADS = 4


def bob(ident: int, station: str) -> tuple[bytes, bytes]:
    attrs = [(wire.USER_NAME, b"bob"), (wire.CALLING_STATION_ID, station.encode())]
    return access_request(ident, attrs, password=b"bob-pw")


def answer(nas: RawNas, ident: int, ra: bytes, wait_s: float) -> int | None:
    """The code of the verified reply to (ident, ra), or None if none came in ``wait_s``."""
    deadline = time.monotonic() + wait_s
    while (left := deadline - time.monotonic()) > 0:
        reply = nas.receive(left)
        if reply is None:
            return None
        if reply[1] == ident and crypto.verify_response(reply, ra, NAS_SECRET.encode(), wire.parse(reply).ma_offset):
            return reply[0]
    return None


@dataclass
class Load:
    """NASes sending bob's logins back to back; every answer is kept with its times."""

    address: tuple[str, int]
    wait_s: float
    # (thread, (sent, reply code or None, settled)), monotonic times
    answers: list[tuple[int, tuple[float, int | None, float]]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(LOAD_THREADS)]

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(ANSWER_WAIT_S + 10)

    def _run(self, n: int) -> None:
        with RawNas(self.address) as nas:
            ident = 0
            while not self.stop.is_set():
                ident = (ident + 1) % 256
                data, ra = bob(ident, f"load-{n}")
                sent = time.monotonic()
                nas.send(data)
                code = answer(nas, ident, ra, self.wait_s)
                self.answers.append((n, (sent, code, time.monotonic())))

    def settled(self) -> list[tuple[int, tuple[float, int | None, float]]]:
        return list(self.answers)


def auth_event(server: Radmfa, station: str) -> dict[str, object] | None:
    return next((e for e in server.events() if e.get("event") == "auth" and e.get("calling_station_id") == station),
                None)


def wait_for(what: str, check, server: Radmfa, deadline_s: float = ANSWER_WAIT_S):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    pytest.fail(f"{what} within {deadline_s} s; radmfa's log:\n{server.log_text()[-6000:]}")


def audited_stations(url: str, stations: list[str]) -> set[str]:
    async def query() -> set[str]:
        conn = await asyncpg.connect(url, timeout=30)
        try:
            rows = await conn.fetch("SELECT calling_station_id FROM audit WHERE calling_station_id = ANY($1)", stations)
        finally:
            await conn.close()
        return {r[0] for r in rows}

    return run(query())


@pytest.mark.parametrize(
    ("on_failure", "shutdown"),
    [("reject", "fast"), ("drop", "fast"), ("reject", "immediate")],  # immediate: a crash, then recovery
)
def test_postgres_restart_under_load_fails_closed_and_recovers(
    on_failure, shutdown, radmfa_factory, freeradius_upstream, private_postgres, tmp_path
):
    pg = private_postgres
    url = pg.create_database(f"outage_{on_failure}_{shutdown}")
    server = radmfa_factory(
        store_url=url,
        key_file=str(tmp_path / "seeds.key"),
        upstream=upstream_cfg(freeradius_upstream.address, timeout_s=10, retries=1),
        mfa='unknown_users = "password-only"',
        radius_extra=f'reject_delay_s = 0\non_backend_failure = "{on_failure}"',
    )
    # Drop mode answers nothing while the store is down: a load NAS gives up soon.
    load_wait = ANSWER_WAIT_S if on_failure == "reject" else 2.0
    with server, RawNas(("127.0.0.1", server.port)) as nas:
        data, ra = bob(1, "before")
        nas.send(data)
        assert answer(nas, 1, ra, ANSWER_WAIT_S) == wire.ACCESS_ACCEPT, server.log_text()  # password-only: bob

        with Load(("127.0.0.1", server.port), load_wait) as load:
            wait_for("the load's first answer", load.settled, server)
            pg.stop(shutdown)
            down = time.monotonic()
            outage = [f"outage-{i}" for i in range(5)]
            for i, station in enumerate(outage, start=10):
                data, ra = bob(i, station)
                nas.send(data)
                if on_failure == "reject":
                    assert answer(nas, i, ra, ANSWER_WAIT_S) == wire.ACCESS_REJECT, server.log_text()
                event = wait_for(f"the audit event for {station}", lambda s=station: auth_event(server, s), server)
                assert event["reason"] == "store unavailable"
                assert event["result"] == ("reject" if on_failure == "reject" else "drop")
                if on_failure == "drop":  # the event comes after any reply: none was sent
                    assert answer(nas, i, ra, 0.2) is None
            # Every load NAS has a login sent and settled inside the outage.
            wait_for("load logins inside the outage",
                     lambda: len({t for t, (s, _, _) in load.settled() if s > down}) == LOAD_THREADS, server)
            up_from = time.monotonic()
            pg.start()
            up = time.monotonic()
            # Recovery needs no restart of radmfa: the next logins get through.
            recovered = None
            for i in range(20, 256):
                data, ra = bob(i, f"after-{i}")
                nas.send(data)
                if answer(nas, i, ra, min(load_wait, ANSWER_WAIT_S)) == wire.ACCESS_ACCEPT:
                    recovered = time.monotonic() - up
                    break
                assert time.monotonic() - up < ANSWER_WAIT_S, server.log_text()
            assert recovered is not None, server.log_text()
            print(f"{on_failure}: first Accept {recovered:.2f} s after PostgreSQL answered again")
            wait_for("load answers after the restart",
                     lambda: any(s > up and c == wire.ACCESS_ACCEPT for _, (s, c, _) in load.settled()), server)
        assert server.proc is not None and server.proc.poll() is None  # never restarted

    # Fails closed: no login sent after the store was gone and settled before
    # it was back got in (Reject, or nothing in drop mode).
    during = [c for _, (s, c, a) in load.settled() if s > down and a < up_from]
    assert len(during) >= LOAD_THREADS
    assert set(during) == ({wire.ACCESS_REJECT} if on_failure == "reject" else {None}), during
    # The audit rows of the outage were queued and written once the store came back.
    wait_for("the outage's audit rows in PostgreSQL",
             lambda: audited_stations(url, outage) == set(outage), server)
    assert any(e.get("event") == "store unavailable; failing closed" for e in server.events())
    assert any(e.get("event") == "requests decided again after store failures" for e in server.events())


def test_sqlite_store_locked_by_another_process_fails_closed_and_recovers(radmfa_factory, freeradius_upstream):
    """SQLite's own "the store is away": another process holds the write lock
    past the busy timeout (a stuck backup or admin tool), then lets go."""
    server = radmfa_factory(
        upstream=upstream_cfg(freeradius_upstream.address, timeout_s=10, retries=1),
        mfa='unknown_users = "password-only"',
        radius_extra="reject_delay_s = 0",
    )
    server.add_users(("alice", None, b"\x01" * 20))
    with server, RawNas(("127.0.0.1", server.port)) as nas:
        holder = sqlite3.connect(server.tmp / "radmfa.db", isolation_level=None, timeout=60)
        try:
            holder.execute("BEGIN EXCLUSIVE")  # held: every write in radmfa waits, then fails
            # alice's first leg must store a challenge: Reject, never Challenge or Accept.
            data, ra = access_request(1, [(wire.USER_NAME, b"alice"), (wire.CALLING_STATION_ID, b"locked")],
                                      password=b"alice-pw")
            nas.send(data)
            assert answer(nas, 1, ra, ANSWER_WAIT_S) == wire.ACCESS_REJECT, server.log_text()
            event = wait_for("the audit event", lambda: auth_event(server, "locked"), server)
            assert event["reason"] == "store unavailable"
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        data, ra = access_request(2, [(wire.USER_NAME, b"alice")], password=b"alice-pw")
        nas.send(data)
        assert answer(nas, 2, ra, ANSWER_WAIT_S) == wire.ACCESS_CHALLENGE, server.log_text()

    async def stations() -> list[str]:
        from radmfa.config import load
        from radmfa.store import open_store

        cfg = load(server.config_path)
        store = await open_store(cfg.store.url, key_file=cfg.store.key_file, base_dir=cfg.base_dir)
        try:
            return [r.calling_station_id for r in await store.query_audit(username="alice")]
        finally:
            await store.close()

    assert "locked" in asyncio.run(stations())  # queued while locked, written after

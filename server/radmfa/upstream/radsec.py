"""Primary authentication against upstream RADIUS servers over TLS (RadSec,
RFC 6614): the request, its checks and the reply's checks are those of
upstream/radius.py; only the way there differs.

* One persistent TLS connection per server, opened when a request first
  needs it and again after it is lost (reconnect), radmfa's client
  certificate offered, the server's certificate verified against
  ``tls_ca`` and ``tls_name`` (or the host in ``servers``).
* Identifiers: 256 per connection, never reused while in flight, allocated
  least-recently-used; when every connection to a server has 256 requests
  in flight, another connection is opened (up to MAX_CONNECTIONS per
  server; past that the request goes to the next server).
* Packets are framed by the RADIUS Length; a reply with a bad Length, a TLS
  error or the server closing fails every request waiting on that
  connection, and each moves on to its next server.
* No retransmission on a connection (RFC 6614 §2.6.2: TLS delivers or the
  connection fails): each server of failover.py's order is tried once, up to
  ``retries`` servers; a server that does not answer within ``timeout_s`` or
  cannot be reached is dead for ``dead_time_s``.
* Dead servers are probed with Status-Server every
  ``status_check_interval_s`` over their TLS connection (reconnecting when it
  is gone), as upstream/radius.py probes UDP ones: one that answers is live
  again at once.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from radmfa.config import UpstreamConfig, format_host_port
from radmfa.errors import UpstreamUnavailable
from radmfa.radius import crypto, wire
from radmfa.service.tls import client_context, shows_name
from radmfa.upstream.radius import Addr, RadiusUpstream, log

CONNECT_TIMEOUT_S = 10.0
MAX_CONNECTIONS = 16  # per server: 4096 requests in flight
_HEADER = 4


class ConnectionLost(Exception):
    """The TLS connection a request was sent on failed before its reply."""


@dataclass(slots=True)
class _Pending:
    future: asyncio.Future[wire.Frame]  # the verified reply, or ConnectionLost
    authenticator: bytes


async def _wait(fut: asyncio.Future[wire.Frame], timeout: float) -> bool:
    """Wait up to ``timeout`` for ``fut`` without cancelling it: the caller
    reads its result or exception. Lighter than wait_for(shield(...))."""
    if fut.done():
        return True
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[bool] = loop.create_future()

    def wake(_: object = None, *, answered: bool = True) -> None:
        if not waiter.done():
            waiter.set_result(answered)

    fut.add_done_callback(wake)
    timer = loop.call_later(timeout, lambda: wake(answered=False))
    try:
        return await waiter
    finally:
        timer.cancel()
        fut.remove_done_callback(wake)


class _Connection:
    def __init__(self, owner: RadsecUpstream, server: Addr) -> None:
        self.owner = owner
        self.server = server
        self.free: deque[int] = deque(range(256))  # LRU: take left, return right
        self.pending: dict[int, _Pending] = {}
        self.writer: asyncio.StreamWriter | None = None
        self.reader_task: asyncio.Task[None] | None = None

    @property
    def up(self) -> bool:
        return self.writer is not None and not self.writer.is_closing()

    async def open(self, timeout: float) -> None:
        host, port = self.server
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=self.owner.context,
                                    server_hostname=self.owner.tls_name or host, ssl_handshake_timeout=timeout),
            timeout,
        )
        expected = self.owner.tls_name or host
        if not shows_name(writer.get_extra_info("peercert"), expected):
            writer.close()
            raise ssl.SSLCertVerificationError(f"the server's certificate does not show the name {expected!r}")
        self.writer = writer
        self.reader_task = asyncio.get_running_loop().create_task(self._read(reader))
        log.info("RadSec upstream connected", server=format_host_port(host, port))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        reason = "closed by the server"
        try:
            while True:
                header = await reader.readexactly(_HEADER)
                length = int.from_bytes(header[2:4], "big")
                if not wire.MIN_LEN <= length <= wire.MAX_LEN:
                    reason = f"bad framing (Length {length})"
                    self.owner.drop_reply("bad framing", self.server)
                    return
                self._deliver(header + await reader.readexactly(length - _HEADER))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except (OSError, ssl.SSLError) as e:
            reason = str(e) or type(e).__name__
        finally:
            self.lost(reason)

    def _deliver(self, data: bytes) -> None:
        entry = self.pending.get(data[1])
        if entry is None or entry.future.done():
            return self.owner.drop_reply("unknown or late", self.server)
        try:
            frame = wire.parse(data, self.owner.reply_codes)
        except wire.Malformed:
            return self.owner.drop_reply("malformed", self.server)
        if frame.ma_offset < 0 and self.owner.require_ma:
            return self.owner.drop_reply("no Message-Authenticator", self.server)
        if not self.owner.verify(frame, entry.authenticator):
            return self.owner.drop_reply("bad authenticator (wrong secret?)", self.server)
        entry.future.set_result(frame)

    def lost(self, reason: str) -> None:
        """Fail what waits on this connection; the next request reconnects."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None
            log.warning("RadSec upstream connection lost", server=format_host_port(*self.server), reason=reason)
        for entry in self.pending.values():
            if not entry.future.done():
                entry.future.set_exception(ConnectionLost(reason))

    def send(self, data: bytes) -> None:
        assert self.writer is not None
        self.writer.write(data)

    async def close(self) -> None:
        if self.reader_task is not None:
            self.reader_task.cancel()
            await asyncio.gather(self.reader_task, return_exceptions=True)
        self.lost("radmfa stopping")


class RadsecUpstream(RadiusUpstream):
    def __init__(self, cfg: UpstreamConfig) -> None:
        super().__init__(cfg)
        assert cfg.tls_cert is not None and cfg.tls_key is not None and cfg.tls_ca is not None
        self.context = client_context(cfg.tls_cert, cfg.tls_key, cfg.tls_ca)
        self.tls_name = cfg.tls_name
        self.attempts = cfg.retries
        self._connections: dict[Addr, list[_Connection]] = {}
        self._opening: dict[Addr, asyncio.Lock] = {}

    async def start(self) -> None:
        """Servers are kept as configured: each connection resolves its host."""
        self.servers = list(self._configured)
        self.failover = type(self.failover)(self.servers, self.dead_time_s)
        self.start_probing()

    async def close(self) -> None:
        await self.stop_probing()
        for conns in self._connections.values():
            for conn in conns:
                await conn.close()
        self._connections.clear()

    def _free_slot(self, server: Addr) -> tuple[_Connection, int] | None:
        """An Identifier on a live connection to ``server``; lost connections are forgotten."""
        conns = self._connections[server] = [c for c in self._connections.get(server, ()) if c.up]
        for conn in conns:
            if conn.free:
                return conn, conn.free.popleft()
        return None

    async def _slot(self, server: Addr) -> tuple[_Connection, int] | None:
        """A connection and an Identifier on it, connecting when none has one
        free; None when MAX_CONNECTIONS are all full."""
        slot = self._free_slot(server)
        if slot is not None:
            return slot
        lock = self._opening.setdefault(server, asyncio.Lock())
        async with lock:  # one connect at a time per server; the others wait for it
            slot = self._free_slot(server)
            if slot is not None:
                return slot
            if len(self._connections[server]) >= MAX_CONNECTIONS:
                return None
            conn = _Connection(self, server)
            await conn.open(min(CONNECT_TIMEOUT_S, max(self.timeout_s, 1.0) * 2))
            self._connections[server].append(conn)
            return conn, conn.free.popleft()

    async def _ask(self, conn: _Connection, ident: int, data: bytes, authenticator: bytes) -> wire.Frame | None:
        """Send ``data`` on ``conn`` (``ident`` is given back after); its
        verified reply, or None when none came within ``timeout_s`` or the
        connection failed first."""
        entry = _Pending(asyncio.get_running_loop().create_future(), authenticator)
        conn.pending[ident] = entry
        try:
            conn.send(data)
            answered = await _wait(entry.future, self.timeout_s)
        finally:
            del conn.pending[ident]
            conn.free.append(ident)
            if not entry.future.done():
                entry.future.cancel()
        if not answered or entry.future.exception() is not None:
            return None
        return entry.future.result()

    async def exchange(self, packet: Callable[[int], tuple[bytes, bytes]]) -> tuple[wire.Frame, bytes, str]:
        """Send the request ``packet(ident)`` gives (its bytes and Request
        Authenticator) to each server of the failover order in turn, once
        each; the verified reply, that authenticator and who answered."""
        order = self.failover.order(now=time.monotonic())
        for server in order[: self.attempts]:
            name = format_host_port(*server)
            since = time.monotonic()
            try:
                slot = await self._slot(server)
            except (OSError, ssl.SSLError, TimeoutError) as e:
                self.warnings.warning(log, "cannot reach RadSec upstream", reason=str(e) or type(e).__name__,
                                      now=time.monotonic(), server=name)
                self.failover.failed(server, since=since, now=time.monotonic())
                continue
            if slot is None:
                continue  # every Identifier of every connection in use: the next server takes this one
            conn, ident = slot
            try:
                data, authenticator = packet(ident)
            except BaseException:
                conn.free.append(ident)
                raise
            reply = await self._ask(conn, ident, data, authenticator)
            if reply is None:
                self.failover.failed(server, since=since, now=time.monotonic())
                continue
            self.failover.answered(server, now=time.monotonic())
            return reply, authenticator, name
        raise UpstreamUnavailable("no upstream server answered", tried=tuple(self.names))

    async def probe(self, server: Addr) -> bool:
        """One Status-Server to a dead ``server`` over its TLS connection,
        connecting first when it has none (RFC 5997 §4.2; RFC 6614
        recommends Status-Server on RadSec connections). An answer makes it
        live; False when it cannot be reached or does not answer in time."""
        try:
            slot = await self._slot(server)
        except (OSError, ssl.SSLError, TimeoutError):
            return False  # still down; the next interval tries again, quietly
        if slot is None:
            return False  # every Identifier busy: it is not that dead; the next interval asks
        conn, ident = slot
        authenticator = crypto.new_authenticator()
        data = crypto.sign_request(wire.STATUS_SERVER, ident, authenticator, b"", self.secret)
        if await self._ask(conn, ident, data, authenticator) is None:
            return False
        self.revived(server)
        return True

"""Primary authentication against upstream RADIUS servers (NPS, FreeRADIUS).

* User-Password is re-hidden with the upstream secret and a fresh Request
  Authenticator; every other request attribute passes through byte-for-byte
  (RFC 2865 §2.3, checklist PW-3, PROXY-6). Proxy-State stays with us: the
  NAS's copies are echoed by the listener, none is forwarded.
* Message-Authenticator is always sent, first (BLAST-6).
* Replies are accepted only from the server the request went to, with a
  valid Response Authenticator and MA (AUTH-4, UP-5).
* Identifiers: 256 per source port, never reused while in flight, allocated
  least-recently-used; more sockets are opened when one runs out (UP-1).
* Retransmissions reuse the same bytes (same ID and authenticator, RFC 5080
  §2.2.1) and cycle through the servers failover.py orders (live ones, then
  one dead one as a last resort); a server that times out is dead for
  ``dead_time_s``. Nobody answering raises UpstreamUnavailable: primary
  authentication fails closed.
* Dead servers are probed with Status-Server (RFC 5997 §4.2, with
  Message-Authenticator) every ``status_check_interval_s``; one that answers
  is live again at once, without waiting for a login or its dead time. A
  server that ignores Status-Server (FreeRADIUS without ``status_server =
  yes``, NPS) comes back when its dead time ends, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import structlog

from radmfa.config import UpstreamConfig, format_host_port
from radmfa.core.model import AuthRequest, PrimaryResult
from radmfa.errors import ConfigError, UpstreamUnavailable
from radmfa.radius import crypto, packet, wire
from radmfa.service.warnings import Throttle
from radmfa.upstream.failover import Failover

Addr = tuple[str, int]
_REPLY_CODES = frozenset((wire.ACCESS_ACCEPT, wire.ACCESS_REJECT, wire.ACCESS_CHALLENGE))
_NOT_FORWARDED = frozenset((wire.USER_PASSWORD, wire.MESSAGE_AUTHENTICATOR, wire.PROXY_STATE))
MAX_SOCKETS = 64
_TIMER_SLACK_S = 0.001  # the event loop's timer resolution
_attr_head = struct.Struct("BB").pack  # Type, Length

log = structlog.get_logger("radmfa.upstream")


# One request in flight on a socket, a list read through these indexes:
# its Request Authenticator, the servers it went to, the current attempt's
# waiter, and the verified reply and its sender once one comes. The waiter
# is resolved by the reply or at the attempt's deadline (``_sweep``), so a
# retransmission gets a fresh one while a late answer to an earlier attempt
# still counts. A list, not a slotted class: one is made per request, and a
# Python __init__ called from C costs about four times as much.
_AUTHENTICATOR, _SENT_TO, _WAITER, _REPLY, _ANSWERED_BY = range(5)
_Pending = list[Any]  # [bytes, tuple[Addr, ...], Future[None], Frame | None, Addr | None]


def _wake(waiter: asyncio.Future[None]) -> None:
    """Resume the probe waiting on ``waiter``: its time is up (its timer's
    callback, no closure per probe)."""
    if not waiter.done():
        waiter.set_result(None)


class _Socket(asyncio.DatagramProtocol):
    """One source port: its own 256 Identifiers and the requests using them.

    A plain protocol rather than asyncio-dgram's ``await recv()``: a reply is
    matched in the datagram callback, with no queue and no reader task
    between the socket and the waiting request.
    """

    def __init__(self, owner: RadiusUpstream) -> None:
        self.owner = owner
        self.free: deque[int] = deque(range(256))  # LRU: take left, return right
        self.pending: dict[int, _Pending] = {}
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:  # IPv6: 4 items
        source: Addr = addr[:2]  # an IPv6 address comes with flow info and scope
        reason = self._deliver(data, source)
        if reason:
            self.owner.drop_reply(reason, source)

    def error_received(self, exc: Exception) -> None:
        pass  # an ICMP error for an earlier send; the request times out and fails over

    def _deliver(self, data: bytes, addr: Addr) -> str:
        """Resolve the waiting request, or say why the reply is ignored."""
        if len(data) < wire.MIN_LEN:
            return "malformed"
        entry = self.pending.get(data[1])
        if entry is None or entry[_REPLY] is not None:
            return "unknown or late"  # late duplicate after an answer (AUTH-4)
        if addr not in entry[_SENT_TO]:
            return "wrong source"  # UP-5
        owner = self.owner
        try:
            frame = wire.parse(data, owner.reply_codes)
        except wire.Malformed:
            return "malformed"
        if frame.ma_offset < 0 and owner.require_ma:
            return "no Message-Authenticator"  # BLAST-6: before the Response Authenticator
        if not owner.verify(frame, entry[_AUTHENTICATOR]):
            return "bad authenticator (wrong secret?)"
        entry[_REPLY] = frame
        entry[_ANSWERED_BY] = addr
        waiter = entry[_WAITER]  # _wake's work, without its call
        if not waiter.done():
            waiter.set_result(None)
        return ""

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class RadiusUpstream:
    reply_codes = _REPLY_CODES

    def __init__(self, cfg: UpstreamConfig) -> None:
        self.secret = cfg.secret
        self.timeout_s = cfg.timeout_s
        self.attempts = max(cfg.retries, len(cfg.servers))
        self.require_ma = cfg.require_message_authenticator
        self.dead_time_s = cfg.dead_time_s
        self.check_interval_s = cfg.status_check_interval_s
        self._prober: asyncio.Task[None] | None = None
        self.names = [format_host_port(h, p) for h, p in cfg.servers]
        self._configured = cfg.servers
        self.servers: list[Addr] = []
        self.failover: Failover[Addr] = Failover((), cfg.dead_time_s)
        self.family = socket.AF_INET
        self._sockets: dict[int, list[_Socket]] = {socket.AF_INET: [], socket.AF_INET6: []}
        self._names_by_addr: dict[Addr, str] = {}
        self.dropped_replies = 0
        self.warnings = Throttle(interval_s=60.0, per_interval=1)
        # Each attempt's (deadline, waiter), in the order sent, and the one
        # timer that wakes those past their deadline (_time_out, _sweep).
        self._deadlines: deque[tuple[float, asyncio.Future[None]]] = deque()
        self._sweeper: asyncio.TimerHandle | None = None

    def verify(self, frame: wire.Frame, authenticator: bytes) -> bool:
        """The reply's Response Authenticator and MA, keyed to our request's authenticator."""
        return crypto.verify_response(frame.data, authenticator, self.secret, frame.ma_offset)

    def drop_reply(self, reason: str, source: Addr) -> None:
        """Count an ignored reply; say why at most once a minute per reason,
        so a wrong secret does not just look like a dead server."""
        self.dropped_replies += 1
        self.warnings.warning(log, "upstream reply ignored", reason=reason, now=time.monotonic(),
                              server=format_host_port(source[0], source[1]))

    async def start(self) -> None:
        """Resolve server names once, at start (like FreeRADIUS, CLI-5).

        All servers share one address family so one ID space and one set of
        sockets serves every retransmission; with a mix, IPv4 servers are
        reached as IPv4-mapped IPv6 addresses over dual-stack sockets.
        """
        loop = asyncio.get_running_loop()
        resolved: list[tuple[int, Addr]] = []
        for host, port in self._configured:
            try:
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
            except OSError as e:
                raise ConfigError(f"[upstream] servers: cannot resolve {host!r}: {e.strerror or e}") from None
            family, _, _, _, sockaddr = infos[0]
            resolved.append((family, (str(sockaddr[0]), int(sockaddr[1]))))
        families = {f for f, _ in resolved}
        self.family = socket.AF_INET6 if socket.AF_INET6 in families else socket.AF_INET
        mixed = len(families) > 1
        self.servers = [(f"::ffff:{h}" if mixed and f == socket.AF_INET else h, p) for f, (h, p) in resolved]
        self.failover = Failover(self.servers, self.dead_time_s)
        self._names_by_addr = {server: format_host_port(server[0], server[1]) for server in self.servers}
        self.start_probing()

    def start_probing(self) -> None:
        """Probe dead servers with Status-Server from now on (``probe``), unless
        ``status_check_interval_s`` is 0."""
        if self.check_interval_s > 0 and self._prober is None:
            self._prober = asyncio.get_running_loop().create_task(self._probe_dead())

    async def stop_probing(self) -> None:
        if self._prober is not None:
            self._prober.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._prober
            self._prober = None

    async def close(self) -> None:
        await self.stop_probing()
        for socks in self._sockets.values():
            for s in socks:
                s.close()
            socks.clear()

    def healthy(self) -> bool:
        return self.failover.healthy(now=time.monotonic())

    async def _socket_for(self, family: int) -> tuple[_Socket, int]:
        """An Identifier on a socket of ``family``, opening one when all are in use."""
        socks = self._sockets[family]
        for s in socks:
            if s.free:
                return s, s.free.popleft()
        if len(socks) >= MAX_SOCKETS:
            raise UpstreamUnavailable("all upstream Identifiers are in use")
        raw = socket.socket(family, socket.SOCK_DGRAM)
        if family == socket.AF_INET6:
            raw.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # reach mapped IPv4 too
        raw.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", 0))  # noqa: S104 - client socket
        _, s = await asyncio.get_running_loop().create_datagram_endpoint(lambda: _Socket(self), sock=raw)
        socks.append(s)
        return s, s.free.popleft()

    def build(self, request: AuthRequest, password: bytes, ident: int, authenticator: bytes) -> bytes:
        """The Access-Request for the upstream, its attributes encoded in
        one pass as wire.encode_attrs does: empty values are not sent
        (PKT-11), a value above 253 octets raises ValueError."""
        out: list[bytes] = []
        chap = has_chap_challenge = False
        for t, v in request.attrs:
            if t == wire.USER_PASSWORD:
                v = crypto.hide_password(password, self.secret, authenticator)  # PW-3
            elif t in _NOT_FORWARDED:
                continue
            elif t == wire.CHAP_PASSWORD:
                chap = True
            elif t == wire.CHAP_CHALLENGE:
                has_chap_challenge = True
            if v:
                try:
                    out.append(_attr_head(t, len(v) + 2))
                except struct.error:
                    raise ValueError(f"attribute {t} value too long ({len(v)} octets)") from None
                out.append(v)
        if chap and not has_chap_challenge:
            # RFC 2865 §2.3: the NAS's authenticator was the CHAP challenge (PW-5)
            out.append(_attr_head(wire.CHAP_CHALLENGE, 18))
            out.append(request.authenticator)
        return crypto.sign_request(wire.ACCESS_REQUEST, ident, authenticator, b"".join(out), self.secret)

    async def authenticate(self, request: AuthRequest, password: bytes) -> PrimaryResult:
        def packet(ident: int) -> tuple[bytes, bytes]:
            authenticator = crypto.new_authenticator()
            return self.build(request, password, ident, authenticator), authenticator

        frame, authenticator, answered = await self.exchange(packet)
        return self._result(frame, authenticator, answered)

    async def exchange(self, packet: Callable[[int], tuple[bytes, bytes]]) -> tuple[wire.Frame, bytes, str]:
        """Send the request ``packet(ident)`` gives (its bytes and Request
        Authenticator) through the failover order, retransmitting the same
        bytes; the verified reply, that authenticator and who answered."""
        order = self.failover.order(now=time.monotonic())
        for sock in self._sockets[self.family]:  # a free Identifier on an open socket, as _socket_for
            if sock.free:
                ident = sock.free.popleft()
                break
        else:
            sock, ident = await self._socket_for(self.family)
        loop = asyncio.get_running_loop()
        try:
            data, authenticator = packet(ident)
        except BaseException:
            sock.free.append(ident)
            raise
        entry: _Pending = [authenticator, (), loop.create_future(), None, None]
        sock.pending[ident] = entry
        transport = sock.transport
        assert transport is not None
        try:
            for attempt in range(self.attempts):
                server = order[attempt % len(order)]
                entry[_SENT_TO] += (server,)
                if attempt:
                    entry[_WAITER] = loop.create_future()
                waiter = entry[_WAITER]
                sent = time.monotonic()
                transport.sendto(data, server)
                self._time_out(waiter, sent + self.timeout_s)
                await waiter  # cancelled with the task: done, so the sweep passes it by
                reply = entry[_REPLY]
                if reply is None:
                    if self.failover.failed(server, since=sent, now=time.monotonic()):
                        log.warning("upstream server dead", server=self._name(server), dead_time_s=self.dead_time_s)
                    continue
                answered = entry[_ANSWERED_BY] or server
                self.failover.answered(answered, now=time.monotonic(), since=sent)
                return reply, authenticator, self._names_by_addr.get(answered) or self._name(answered)
        finally:
            del sock.pending[ident]
            sock.free.append(ident)
        raise UpstreamUnavailable("no upstream server answered", tried=tuple(self.names))

    def _time_out(self, waiter: asyncio.Future[None], deadline: float) -> None:
        """Wake ``waiter`` at ``deadline`` (monotonic) unless its reply does
        first. Every attempt waits the same ``timeout_s``, so deadlines come
        in the order attempts are sent: one queue, and one timer armed for
        the oldest deadline. An answered attempt is not taken out of the
        queue nor its timer cancelled; the sweep passes it by and sets the
        timer for the oldest attempt still waiting. So the timer is made
        about once per ``timeout_s``, not once per attempt (uvloop's timer
        handle, made and cancelled, cost more than the rest of the wait)."""
        queue = self._deadlines
        while queue and queue[0][1].done():  # answered or timed out: forgotten
            queue.popleft()
        queue.append((deadline, waiter))
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().call_later(self.timeout_s, self._sweep)

    def _sweep(self) -> None:
        """Wake the attempts past their deadline; set the timer for the
        next one still waiting."""
        self._sweeper = None
        queue = self._deadlines
        # The loop's timers count whole milliseconds: a deadline within one
        # is due now, as the attempt's own timer would have fired.
        now = time.monotonic() + _TIMER_SLACK_S
        while queue:
            deadline, waiter = queue[0]
            if not waiter.done():
                if deadline > now:
                    delay = deadline - now + _TIMER_SLACK_S
                    self._sweeper = asyncio.get_running_loop().call_later(delay, self._sweep)
                    return
                waiter.set_result(None)
            queue.popleft()

    def _name(self, server: Addr) -> str:
        name = self._names_by_addr.get(server)
        return name if name is not None else format_host_port(server[0], server[1])

    async def _probe_dead(self) -> None:
        """Every ``check_interval_s``, a Status-Server to each dead server."""
        while True:
            await asyncio.sleep(self.check_interval_s)
            dead = self.failover.dead(now=time.monotonic())
            try:
                await asyncio.gather(*(self.probe(server) for server in dead))
            except Exception:  # never let one bad probe end the probing
                log.exception("upstream Status-Server probe failed")

    async def probe(self, server: Addr) -> bool:
        """One Status-Server to ``server`` (RFC 5997 §4.2); an answer makes it
        live. False when nothing verifiable came back within ``timeout_s``."""
        try:
            sock, ident = await self._socket_for(self.family)
        except (UpstreamUnavailable, OSError):
            return False  # every Identifier busy with real logins: try at the next interval
        authenticator = crypto.new_authenticator()
        data = crypto.sign_request(wire.STATUS_SERVER, ident, authenticator, b"", self.secret)
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        entry: _Pending = [authenticator, (server,), waiter, None, None]
        sock.pending[ident] = entry
        timer = loop.call_later(self.timeout_s, _wake, waiter)
        try:
            assert sock.transport is not None
            sock.transport.sendto(data, server)
            await waiter
        finally:
            timer.cancel()
            del sock.pending[ident]
            sock.free.append(ident)
        if entry[_REPLY] is None:
            return False
        self.revived(server)
        return True

    def revived(self, server: Addr) -> None:
        """``server`` answered a Status-Server probe: live again."""
        self.failover.answered(server, now=time.monotonic())
        log.info("upstream server alive", server=format_host_port(server[0], server[1]), by="Status-Server")

    def _result(self, frame: wire.Frame, authenticator: bytes, server: str) -> PrimaryResult:
        if frame.code == wire.ACCESS_ACCEPT:
            # An Accept holding nothing but its Message-Authenticator (or
            # nothing at all) has nothing to pass on: no list to filter.
            attrs = [] if len(frame.attrs) == (frame.ma_offset >= 0) else [
                a for a in frame.attrs if a[0] not in packet.HOP_BY_HOP]
            if attrs and packet.needs_concealing(attrs):  # else reveal would change nothing
                try:
                    attrs = packet.reveal(attrs, self.secret, authenticator)
                except ValueError:
                    return PrimaryResult(False, server=server, reason="malformed encrypted attribute from upstream")
            names = frame.all(wire.USER_NAME) if attrs else []  # a User-Name is not hop-by-hop
            if len(names) > 1:  # RFC 2865 §5.44: 0-1 in an Accept
                return PrimaryResult(False, server=server, reason="several User-Names from upstream", relayed=False)
            # The name the upstream authenticated, when it says (RFC 2865 §5.1):
            # the pipeline compares it with the one it decided on. Bytes that
            # are not UTF-8 become U+FFFD, which no valid name holds.
            canonical = names[0].decode("utf-8", "replace") if names else None
            # Every field up to canonical_name, in order: no keyword dict for the generated __new__.
            return PrimaryResult(True, tuple(attrs), None, server, "upstream accept", True, canonical)
        message = b"".join(frame.all(wire.REPLY_MESSAGE)) or None
        if frame.code == wire.ACCESS_CHALLENGE:
            # Its own challenge (RSA next-token or new-PIN, an OTP): the
            # pipeline relays it or refuses it (core/upstream_challenge.py).
            try:  # decrypted like an Accept's; the listener encrypts again for the NAS
                challenge = tuple(packet.reveal(
                    [(t, v) for t, v in frame.attrs if t not in (wire.PROXY_STATE, wire.MESSAGE_AUTHENTICATOR)],
                    self.secret, authenticator))
            except ValueError:
                return PrimaryResult(False, server=server, reason="malformed encrypted attribute from upstream")
            return PrimaryResult(False, reply_message=message, server=server, reason="upstream challenge",
                                 challenge=challenge)
        return PrimaryResult(False, reply_message=message, server=server, reason="upstream reject")

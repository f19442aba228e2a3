"""The RadSec listener (RADIUS over TLS, RFC 6614) in front of the same
RadiusService as the UDP sockets, and of the AccountingService: RFC 6614
carries accounting on the same connection (§2.1), so an Accounting-Request
goes there, verified with the connection's RadSec secret, and its
Accounting-Response comes back on the connection.

A connection is matched to its clients.conf entry by source address, like a
datagram; that client needs ``[clients.<name>] radsec_ca`` and
``radsec_name``. The TLS handshake uses a context that trusts only that
client's CA (a certificate from another CA fails it), then the certificate
must show ``radsec_name``. Packets are framed by the RADIUS header's Length
(§2.6.4 of RFC 6614): a Length outside 20..4096 closes the connection. Each
packet then goes to ``RadiusService.receive`` as a datagram would, with the
client's RadSec secret ("radsec" by default, §2.3), its own duplicate cache
per connection, and replies written back on the connection.

Over TLS, integrity comes from TLS: a Message-Authenticator is verified when
present but not required unless the client's clients.conf entry says
``require_message_authenticator = yes``.

Limits: connections at once (all clients, and per client), the TLS handshake
time, and an idle timeout (no packet either way). Refusals and bad framing
are counted with the UDP drops (``radsec_*`` reasons) and logged, rate-limited.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import ssl
import time
from collections import Counter
from pathlib import Path
from typing import Any

from radmfa.config import RadiusConfig, format_host_port
from radmfa.core.ports import ClientPolicies
from radmfa.errors import ConfigError
from radmfa.radius import wire
from radmfa.radius.clients import Client
from radmfa.radius.dedup import DedupCache
from radmfa.service.accounting import AccountingService
from radmfa.service.audit import log
from radmfa.service.binding import CannotListen, bind_failure, family_of
from radmfa.service.radius import Addr, RadiusService
from radmfa.service.tls import server_context, shows_name

HANDSHAKE_TIMEOUT_S = 10.0
BACKLOG = 128
MAX_WRITE_BUFFER = 1 << 20  # a peer that stops reading its replies is cut off past this
_HEADER = 4  # Code, Identifier, Length


class _Connection:
    """The Transport RadiusService answers on: one TLS connection."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.last_activity = time.monotonic()

    def sendto(self, data: bytes, addr: Addr) -> None:
        if self.writer.is_closing():
            return  # the peer went away; its requests are forgotten with the connection
        if self.writer.transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
            log.warning("RadSec peer does not read its replies; closing", peer=format_host_port(*addr))
            self.writer.close()
            return
        self.writer.write(data)
        self.last_activity = time.monotonic()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.writer.get_extra_info(name, default)


class RadsecListener:
    def __init__(self, cfg: RadiusConfig, service: RadiusService, policies: ClientPolicies, *,
                 accounting: AccountingService | None = None) -> None:
        """``accounting``: where Accounting-Requests go; without it they are
        dropped as the UDP listener drops any code it does not take."""
        self.cfg = cfg
        self.service = service
        self.accounting = accounting
        self.policies = policies
        self._sockets: list[socket.socket] = []
        self._accepting: list[asyncio.Task[None]] = []
        self.addresses: list[tuple[str, int]] = []
        self.open: Counter[str] = Counter()  # client name -> connections
        self._contexts: dict[str, ssl.SSLContext] = {}  # CA file -> context
        self._tasks: set[asyncio.Task[None]] = set()

    def context_for(self, ca: Path) -> ssl.SSLContext:
        key = str(ca)
        ctx = self._contexts.get(key)
        if ctx is None:
            assert self.cfg.radsec_cert is not None and self.cfg.radsec_key is not None
            ctx = self._contexts[key] = server_context(self.cfg.radsec_cert, self.cfg.radsec_key, ca)
        return ctx

    def check(self, where: str, client_cas: dict[str, Path]) -> None:
        """Load the certificate, key and each client's CA now: a bad file stops start-up."""
        assert self.cfg.radsec_cert is not None and self.cfg.radsec_key is not None
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(self.cfg.radsec_cert, self.cfg.radsec_key)
        except (ssl.SSLError, OSError) as e:
            raise ConfigError(f"{where}: [radius] radsec_cert / radsec_key: cannot load: {e}") from None
        if not client_cas:
            log.warning("RadSec is on but no [clients.<name>] has radsec_ca and radsec_name: no NAS may connect")
        for name, ca in client_cas.items():
            try:
                self.context_for(ca)
            except (ssl.SSLError, OSError, ValueError) as e:
                raise ConfigError(f"{where}: [clients.{name}] radsec_ca: cannot load: {e}") from None

    def reload(self) -> None:
        """SIGHUP: CA files are read again at the next connection."""
        self._contexts.clear()

    async def start(self, where: str, *, reuse_port: bool = False) -> None:
        loop = asyncio.get_running_loop()
        for host, port in self.cfg.radsec_listen:
            sock = socket.socket(family_of(host), socket.SOCK_STREAM)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if reuse_port:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                sock.bind((host, port))
                sock.listen(BACKLOG)
                sock.setblocking(False)
            except OSError as e:
                sock.close()
                failure: CannotListen = bind_failure(e, host, port, kind=socket.SOCK_STREAM, reuse_port=reuse_port)
                raise ConfigError(f"{where}: [radius] radsec_listen: {failure}") from None
            self._sockets.append(sock)
            sockname = sock.getsockname()
            self.addresses.append((sockname[0], sockname[1]))
            self._accepting.append(loop.create_task(self._accept_loop(sock)))

    async def close(self) -> None:
        for task in [*self._accepting, *self._tasks]:
            task.cancel()
        await asyncio.gather(*self._accepting, *self._tasks, return_exceptions=True)
        for sock in self._sockets:
            sock.close()

    async def _accept_loop(self, sock: socket.socket) -> None:
        """Accept by hand, not with start_server: the TLS context is chosen by
        the client before a byte of its handshake is read."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, peer = await loop.sock_accept(sock)
            except OSError as e:  # e.g. out of file descriptors: keep serving those connected
                log.warning("RadSec accept failed", error=str(e))
                await asyncio.sleep(1.0)
                continue
            task = loop.create_task(self._accept(conn, (str(peer[0]), int(peer[1]))))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _refuse(self, reason: str, client: str, ip: str, **fields: Any) -> None:
        self.service.drop(reason, client)
        suppressed = self.service.warnings.admit(reason, ip, now=time.monotonic())
        if suppressed is not None:
            log.warning("RadSec connection dropped", reason=reason, client=client, client_ip=ip,
                        suppressed=suppressed, **fields)

    def _admit(self, client: Client | None, ca: Path | None) -> str:
        """Why a new connection from ``client`` is refused before TLS; "" to go on."""
        if client is None:
            return "radsec_unknown_client"
        if ca is None:
            return "radsec_not_enabled"  # no [clients.<name>] radsec_ca
        if sum(self.open.values()) >= self.cfg.radsec_max_connections:
            return "radsec_too_many_connections"
        if self.open[client.name] >= self.cfg.radsec_client_max_connections:
            return "radsec_client_too_many_connections"
        return ""

    async def _accept(self, conn: socket.socket, addr: Addr) -> None:
        if self.service.stopping:
            conn.close()
            return self.service.drop("shutting_down")
        client = self.service.clients.match(addr[0])
        policy = self.policies.policy_for(client.name) if client is not None else None
        reason = self._admit(client, policy.radsec_ca if policy is not None else None)
        if reason or client is None or policy is None or policy.radsec_ca is None:
            conn.close()
            return self._refuse(reason, client.name if client is not None else "", addr[0])
        self.open[client.name] += 1
        try:
            await self._session(conn, addr, client, policy.radsec_ca, policy.radsec_name, policy.radsec_secret)
        except (OSError, ssl.SSLError, asyncio.IncompleteReadError):
            pass  # the peer went away
        finally:
            self.open[client.name] -= 1
            if not self.open[client.name]:
                del self.open[client.name]

    async def _session(self, conn: socket.socket, addr: Addr, client: Client, ca: Path, name: str,
                       secret: bytes) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=wire.MAX_LEN * 4)
        protocol = asyncio.StreamReaderProtocol(reader)
        try:
            ctx = self.context_for(ca)
            transport, _ = await asyncio.wait_for(
                loop.connect_accepted_socket(lambda: protocol, conn, ssl=ctx,
                                             ssl_handshake_timeout=HANDSHAKE_TIMEOUT_S),
                HANDSHAKE_TIMEOUT_S * 2,
            )
        except (ssl.SSLError, OSError, TimeoutError, ValueError) as e:
            conn.close()
            return self._refuse("radsec_handshake_failed", client.name, addr[0], error=str(e) or type(e).__name__)
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        try:
            await self._verified(reader, writer, addr, client, name, secret)
        finally:
            writer.close()

    async def _verified(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, addr: Addr,
                        client: Client, name: str, secret: bytes) -> None:
        peercert = writer.get_extra_info("peercert")
        if not shows_name(peercert, name):
            return self._refuse("radsec_wrong_name", client.name, addr[0], expected=name)
        # TLS authenticates every packet: BlastRADIUS' forgery needs none of the
        # UDP defences, unless the operator asked for Message-Authenticator.
        require_ma = "yes" if client.require_message_authenticator == "yes" else "no"
        tls_client = dataclasses.replace(
            client, secret=secret, require_message_authenticator=require_ma, limit_proxy_state="no"
        )
        conn = _Connection(writer)
        # One cache per service: a NAS may use an Identifier for an
        # Access-Request and another for an Accounting-Request at once.
        dedup = DedupCache(self.cfg.duplicate_window_s, max_entries=self.cfg.max_pending)
        accounting_dedup = DedupCache(self.cfg.duplicate_window_s, max_entries=self.cfg.max_pending)
        log.info("RadSec connection", client=client.name, client_ip=addr[0], tls=writer.get_extra_info("ssl_object")
                 .version())
        try:
            await self._packets(reader, conn, addr, tls_client, (dedup, accounting_dedup))
        finally:
            log.info("RadSec connection closed", client=client.name, client_ip=addr[0])

    async def _packets(self, reader: asyncio.StreamReader, conn: _Connection, addr: Addr, client: Client,
                       caches: tuple[DedupCache, DedupCache]) -> None:
        """Read packets until the peer goes, is idle or breaks the framing;
        each to the authentication or the accounting service by its Code."""
        dedup, accounting_dedup = caches
        idle = self.cfg.radsec_idle_timeout_s
        while not self.service.stopping:
            try:
                header = await asyncio.wait_for(reader.readexactly(_HEADER), idle)
            except TimeoutError:
                if time.monotonic() - conn.last_activity < idle:
                    continue  # a reply went out meanwhile
                log.info("RadSec connection idle; closing", client=client.name, client_ip=addr[0])
                return
            except asyncio.IncompleteReadError as e:
                if e.partial:
                    self.service.drop("radsec_bad_framing", client.name)
                return  # closed by the peer
            length = int.from_bytes(header[2:4], "big")
            if not wire.MIN_LEN <= length <= wire.MAX_LEN:
                return self._refuse("radsec_bad_framing", client.name, addr[0], length=length)
            try:
                body = await asyncio.wait_for(reader.readexactly(length - _HEADER), idle)
            except (TimeoutError, asyncio.IncompleteReadError):
                return self._refuse("radsec_bad_framing", client.name, addr[0], length=length)
            conn.last_activity = time.monotonic()
            if header[0] == wire.ACCOUNTING_REQUEST and self.accounting is not None:
                self.accounting.receive(header + body, addr, conn, accounting_dedup, client=client)
            else:
                self.service.receive(header + body, addr, conn, dedup, client=client)

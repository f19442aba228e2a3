"""One client's LDAP session (RFC 4511 §5.1): requests in, responses out.

Requests are framed (ber.py) and decoded (protocol.py) as they arrive; a
message that breaks a rule ends this session only, with a Notice of
Disconnection (protocolError, RFC 4511 §4.1.1), and is counted.

  bind              binds.py decides, in a task of its own (a held push
                    must not stop the session from seeing the client leave)
  unbind            the session ends (§4.3)
  abandon           passed on for an operation in progress (§4.11)
  StartTLS          answered here, then TLS (§4.14)
  search, compare,  forwarded unchanged on the directory connection bound
  extended          as the client's identity; the directory's responses
                    come back unchanged, in the order it sends them
  add, modify, …    refused: unwillingToPerform (radmfa passes reads)

Limits: at most ``max_operations`` in progress (more are answered busy),
messages up to ``max_message_bytes``, and the session is closed after
``idle_timeout_s`` with nothing from either side.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import Counter
from dataclasses import dataclass

from radmfa.config import LdapFrontConfig
from radmfa.front.ldap import ber, protocol
from radmfa.front.ldap.binds import Binder, Bound, Peer
from radmfa.front.ldap.directory import Directory, DirectoryError, Link
from radmfa.front.ldap.protocol import Request

WRITES = frozenset(("addRequest", "modifyRequest", "delRequest", "modDNRequest"))
_UNBOUND = Bound(protocol.SUCCESS, "none")


@dataclass(frozen=True, slots=True)
class Shared:
    """What every session of the front end uses."""

    cfg: LdapFrontConfig
    binder: Binder
    directory: Directory
    tls: ssl.SSLContext | None  # the server certificate; None: no StartTLS offered
    dropped: Counter[str]


class Connection:
    def __init__(self, shared: Shared, peer: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.shared, self.peer, self.reader, self.writer = shared, peer, reader, writer
        self.cfg = shared.cfg
        self.tls = peer.tls
        self.framer = ber.Framer(self.cfg.max_message_bytes)
        self.bound = _UNBOUND
        self.link: Link | None = None
        self.relay: asyncio.Task[None] | None = None
        self.binding: asyncio.Task[None] | None = None
        self.outstanding: set[int] = set()
        self.last_activity = time.monotonic()
        self.closing = False
        self.closed = asyncio.Event()  # set once everything is let go

    async def run(self) -> None:
        try:
            await self._read_loop()
        except (ConnectionError, OSError):
            pass  # the client went away mid-write
        finally:
            await self.close()

    async def _read_loop(self) -> None:
        while not self.closing:
            data = await self._read()
            if data is None:
                return
            self.framer.feed(data)
            while not self.closing:
                try:
                    pdu = self.framer.next()
                    if pdu is None:
                        break
                    request = protocol.decode_request(pdu)
                except ber.Malformed as e:
                    return await self._refuse(e.reason)
                await self._dispatch(request)

    async def _read(self) -> bytes | None:
        """The next bytes from the client; None at the end of the session."""
        while True:
            left = self.cfg.idle_timeout_s - (time.monotonic() - self.last_activity)
            try:
                async with asyncio.timeout(max(left, 0.01)):
                    data = await self.reader.read(65536)
            except TimeoutError:
                if self.binding is not None and not self.binding.done():
                    self.last_activity = time.monotonic()  # a bind held for a push is not idle
                    continue
                if time.monotonic() - self.last_activity < self.cfg.idle_timeout_s:
                    continue  # responses flowed meanwhile
                self.shared.dropped["idle_timeout"] += 1
                return None
            except (ConnectionError, OSError):  # reset, or TLS cut without close_notify
                data = b""
            if not data:
                if self.framer.pending:
                    self.shared.dropped["truncated"] += 1  # the client closed mid-message
                return None
            self.last_activity = time.monotonic()
            return data

    async def _refuse(self, reason: str) -> None:
        """A message that breaks RFC 4511: say so and end this session."""
        self.shared.dropped[reason] += 1
        self.closing = True
        with contextlib.suppress(ConnectionError, OSError):
            await self._write(protocol.notice_of_disconnection(protocol.PROTOCOL_ERROR, "malformed message"))

    async def _dispatch(self, req: Request) -> None:
        op = req.op
        if op == "unbindRequest":
            self.closing = True
            return
        if self.binding is not None and not self.binding.done():
            if op != "abandonRequest":  # a bind cannot be abandoned (§4.11)
                await self._answer(req, protocol.OPERATIONS_ERROR, "a bind is in progress")
            return
        if op == "abandonRequest":
            return self._abandon(req)
        if op == "bindRequest":
            return self._start_bind(req)
        if op == "extendedReq" and req.oid == protocol.START_TLS:
            return await self._start_tls(req)
        if not self.tls and not self.peer.loopback:
            return await self._answer(req, protocol.CONFIDENTIALITY_REQUIRED, "StartTLS first")
        if op in WRITES:
            return await self._answer(req, protocol.UNWILLING_TO_PERFORM, "only reads pass through radmfa")
        await self._forward(req)

    async def _answer(self, req: Request, code: int, text: str = "") -> None:
        await self._write(protocol.response(req, code, text))

    async def _write(self, pdu: bytes) -> None:
        self.writer.write(pdu)
        await self.writer.drain()

    # -- bind ---------------------------------------------------------------------

    def _start_bind(self, req: Request) -> None:
        # §4.2.1: operations in progress are abandoned, and until the bind
        # completes the session has no identity.
        self._drop_link()
        self.bound = _UNBOUND
        self.binding = asyncio.get_running_loop().create_task(self._bind(req))

    async def _bind(self, req: Request) -> None:
        assert req.bind is not None
        peer = Peer(self.peer.client, self.peer.ip, self.peer.local_ip, self.tls, self.peer.loopback)
        bound = await self.shared.binder.bind(peer, req.bind)
        if self.closing:
            if bound.link is not None:
                bound.link.close()
            return
        self.bound = bound if bound.code == protocol.SUCCESS else _UNBOUND
        if bound.link is not None:
            self._attach(bound.link)
        self.last_activity = time.monotonic()
        with contextlib.suppress(ConnectionError, OSError):
            await self._answer(req, bound.code)

    # -- StartTLS -----------------------------------------------------------------

    async def _start_tls(self, req: Request) -> None:
        if self.tls:
            return await self._answer(req, protocol.OPERATIONS_ERROR, "TLS is already established")
        if self.shared.tls is None:
            return await self._answer(req, protocol.UNAVAILABLE, "no certificate configured")
        if self.outstanding:
            return await self._answer(req, protocol.OPERATIONS_ERROR, "operations in progress")
        if self.framer.pending:  # §4.14.1: nothing may follow the request before the response
            return await self._refuse("data_after_starttls")
        await self._write(protocol.extended_response(req.message_id, protocol.SUCCESS, protocol.START_TLS))
        try:
            await self.writer.start_tls(self.shared.tls, ssl_handshake_timeout=self.cfg.tls_handshake_timeout_s)
        except (ssl.SSLError, ConnectionError, OSError, TimeoutError):
            self.shared.dropped["tls_failed"] += 1
            self.closing = True
            return
        self.tls = True

    # -- operations ---------------------------------------------------------------

    async def _forward(self, req: Request) -> None:
        if req.message_id in self.outstanding:  # §4.1.1.1: unique among those in progress
            return await self._refuse("duplicate_message_id")
        if len(self.outstanding) >= self.cfg.max_operations:
            self.shared.dropped["busy"] += 1
            return await self._answer(req, protocol.BUSY, "too many operations in progress")
        link = await self._link()
        if isinstance(link, int):
            text = "no directory identity: bind first" if link == protocol.INSUFFICIENT_ACCESS_RIGHTS else ""
            return await self._answer(req, link, text)
        self.outstanding.add(req.message_id)
        link.send(req.pdu)
        await link.writer.drain()

    async def _link(self) -> Link | int:
        """The directory connection operations go to, or the result code
        that refuses them."""
        if self.link is not None:
            return self.link
        if self.bound.kind not in ("none", "anonymous") or not self.cfg.allow_anonymous:
            return protocol.INSUFFICIENT_ACCESS_RIGHTS  # not bound, or an app password (unknown to the directory)
        try:
            _, link = await self.shared.directory.bind("", b"")  # RFC 4513 §5.1.1
        except DirectoryError:
            return protocol.UNAVAILABLE
        if link is None:
            return protocol.UNAVAILABLE
        self._attach(link)
        return link

    def _abandon(self, req: Request) -> None:
        if self.link is not None and req.abandon in self.outstanding:
            self.link.send(req.pdu)
            self.outstanding.discard(req.abandon)

    def _attach(self, link: Link) -> None:
        self.link = link
        self.relay = asyncio.get_running_loop().create_task(self._relay(link))

    async def _relay(self, link: Link) -> None:
        """The directory's responses to the client, unchanged."""
        try:
            while True:
                pdu = await link.receive()
                if pdu is None:
                    break
                message_id, op = ber.peek(pdu)
                self.writer.write(pdu)
                self.last_activity = time.monotonic()
                if message_id == 0:  # an unsolicited notice: the directory is closing
                    break
                if op not in ber.NOT_FINAL:
                    self.outstanding.discard(message_id)
                await self.writer.drain()
        except (DirectoryError, ber.Malformed, ConnectionError, OSError):
            pass
        if link is self.link and not self.closing:  # the directory went away: so does this session
            self.shared.dropped["directory_closed"] += 1
            self.closing = True
            with contextlib.suppress(ConnectionError, OSError):
                self.writer.write(protocol.notice_of_disconnection(protocol.UNAVAILABLE, "directory unavailable"))
            self.writer.close()

    def _drop_link(self) -> None:
        link, relay, clean = self.link, self.relay, not self.outstanding
        self.link, self.relay = None, None
        self.outstanding.clear()
        if relay is not None:
            relay.cancel()
        if link is None:
            return
        if not clean or relay is None:
            link.close()  # responses may still come: never hand it to another client
            return
        # Back to the pool once the relay has stopped reading from it.
        relay.add_done_callback(lambda _: self.shared.directory.release(link))

    def abort(self) -> None:
        """End the session from outside (shutdown) at once, without waiting
        for the client's TLS close_notify: the read loop sees the end."""
        self.closing = True
        self.writer.transport.abort()

    async def close(self) -> None:
        self.closing = True
        if self.binding is not None and not self.binding.done():
            self.binding.cancel()  # the client left: stop waiting for its push
            with contextlib.suppress(asyncio.CancelledError):
                await self.binding
        relay = self.relay
        self._drop_link()
        if relay is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await relay
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError, TimeoutError):
            async with asyncio.timeout(5):
                await self.writer.wait_closed()
        self.closed.set()

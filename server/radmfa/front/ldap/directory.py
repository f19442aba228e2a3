"""Connections to the directory, each bound as the identity a client bound as.

After a bind succeeds, a client's searches, compares and extended
operations travel on a Link bound with the *user's own* DN and password (or
the service bind's, or anonymously when allowed): the directory's access
control decides what they see, never a service account's rights.

A Link is asyncio streams, so a slow directory only delays the clients
waiting on it. Links are opened with the upstream's TLS settings (ldaps://,
or StartTLS before any bind, certificate and host name verified) and kept,
idle, for the next bind, which always binds anew before the link is handed
out (a failed bind closes it): a link never carries one client's identity
to another. A new link goes to the servers upstream/failover.py orders:
live ones first, then one dead one as a last resort (the tracker is shared
with lookup.py).
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import time

from radmfa.config import LdapConfig, LdapServer
from radmfa.directory import ldapconn as lc
from radmfa.front.ldap import ber, protocol
from radmfa.upstream.failover import Failover

RESPONSE_LIMIT = 256 << 20  # one response from the directory (a search entry with photos); more is garbage
IDLE_LINKS = 64  # idle links kept per process for the next bind


class DirectoryError(Exception):
    """The directory did not answer usefully (refused, timed out, TLS, nonsense)."""


def nodelay(writer: asyncio.StreamWriter) -> None:
    # Request/response exchanges of a few hundred bytes: without TCP_NODELAY
    # each waits out the peer's delayed ACK (~40 ms, Nagle).
    sock = writer.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Link:
    """One connection to the directory."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, url: str) -> None:
        self.reader, self.writer, self.url = reader, writer, url
        self._framer = ber.Framer(RESPONSE_LIMIT)
        self._ids = itertools.count(1)  # radmfa's own requests (StartTLS, bind), before any client's

    @property
    def closed(self) -> bool:
        return self.writer.is_closing()

    def send(self, pdu: bytes) -> None:
        self.writer.write(pdu)

    async def receive(self) -> bytes | None:
        """The next whole response; None when the directory closed the connection."""
        while True:
            try:
                pdu = self._framer.next()
            except ber.Malformed as e:
                raise DirectoryError(f"{self.url}: {e.reason}") from None
            if pdu is not None:
                return pdu
            data = await self.reader.read(65536)
            if not data:
                return None
            self._framer.feed(data)

    async def _exchange(self, message_id: int, pdu: bytes, op: str) -> int:
        """Send one of radmfa's own requests; its result code. Anything else
        first (a notice of disconnection, a late response to an abandoned
        operation on a kept link) makes the link unusable."""
        self.send(pdu)
        response = await self.receive()
        if response is None:
            raise DirectoryError(f"{self.url}: connection closed")
        try:
            answered_id, answered, code = protocol.result_code(response)
        except ber.Malformed:
            raise DirectoryError(f"{self.url}: not an LDAP response") from None
        if (answered_id, answered) != (message_id, op):
            raise DirectoryError(f"{self.url}: {answered} {answered_id} instead of {op} {message_id}")
        return code

    async def start_tls(self, context: object, host: str) -> None:
        message_id = next(self._ids)
        code = await self._exchange(message_id, protocol.start_tls_request(message_id), "extendedResp")
        if code != protocol.SUCCESS:
            raise DirectoryError(f"{self.url}: StartTLS refused (LDAP result {code})")
        await self.writer.start_tls(context, server_hostname=host)  # type: ignore[arg-type]

    async def bind(self, dn: str, password: bytes) -> int:
        """RFC 4511 §4.2: after a failed bind the connection is anonymous."""
        message_id = next(self._ids)
        return await self._exchange(message_id, protocol.bind_request(message_id, dn, password), "bindResponse")

    def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()


class Directory:
    def __init__(self, cfg: LdapConfig, *, timeout_s: float, failover: Failover[LdapServer]) -> None:
        self.cfg = cfg
        self.timeout = timeout_s
        self.failover = failover
        self._context = lc.tls_context(cfg)
        self._idle: list[Link] = []

    async def bind(self, dn: str, password: bytes) -> tuple[int, Link | None]:
        """(result code, a link bound as ``dn``); the link only on success.
        ``dn`` and ``password`` empty: an anonymous link (RFC 4513 §5.1.1).
        Raises DirectoryError when no server answers."""
        while self._idle:
            link = self._idle.pop()
            if link.closed:
                continue
            try:
                async with asyncio.timeout(self.timeout):
                    return self._kept(await link.bind(dn, password), link)
            except (DirectoryError, OSError, TimeoutError):
                link.close()  # an idle link the server had closed: a new one
            except BaseException:
                link.close()
                raise
        tried = []
        for server in self.failover.order(now=time.monotonic()):
            tried.append(server.url)
            started = time.monotonic()
            try:
                async with asyncio.timeout(self.timeout):  # per server, as the upstream's timeout_s
                    link = await self._open(server)
                    try:
                        code = await link.bind(dn, password)
                    except BaseException:
                        link.close()
                        raise
            except (DirectoryError, OSError, TimeoutError):
                self.failover.failed(server, since=started, now=time.monotonic())
                continue
            self.failover.answered(server, now=time.monotonic())
            return self._kept(code, link)
        raise DirectoryError(f"no LDAP server answered ({', '.join(tried)})")

    @staticmethod
    def _kept(code: int, link: Link) -> tuple[int, Link | None]:
        if code == protocol.SUCCESS:
            return code, link
        link.close()
        return code, None

    async def _open(self, server: LdapServer) -> Link:
        tls = self._context if server.scheme == "ldaps" else None
        reader, writer = await asyncio.open_connection(
            server.host, server.port, ssl=tls, server_hostname=server.host if tls else None,
            limit=RESPONSE_LIMIT,
        )
        nodelay(writer)
        link = Link(reader, writer, server.url)
        if self.cfg.start_tls:  # RFC 4513 §3: before any bind, so no password goes in clear
            await link.start_tls(self._context, server.host)
        return link

    def release(self, link: Link) -> None:
        """A link no client uses any more, with nothing outstanding on it."""
        if link.closed or len(self._idle) >= IDLE_LINKS:
            link.close()
            return
        self._idle.append(link)

    def close(self) -> None:
        for link in self._idle:
            link.close()
        self._idle.clear()

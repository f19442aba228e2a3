"""The NAS-facing UDP socket, read until it is empty at every wake-up.

An event loop's datagram transport reads only a few datagrams per loop
iteration (asyncio one, uvloop 32). Under a flood the iterations grow long,
the kernel's receive buffer fills, and the kernel drops every NAS's datagrams
alike before radmfa can choose whose to shed. This endpoint reads up to
READ_BATCH datagrams per wake-up, so the listener sees (almost) every
datagram and sheds by client (fairness.py), and it asks the kernel for a
large receive buffer to ride out the gaps between wake-ups (the kernel caps
it at net.core.rmem_max; docs/operator-guide.md says how to raise that).

A wake-up for one datagram (the loop keeps up; a retransmitted copy arrives
on its own) does not end on a failed read: the exception CPython builds for
EAGAIN (its message decoded from the locale) costs more than the datagram's
whole handling. After the first datagram a poll with no timeout says whether
another is waiting; only then is the socket read until it is empty.
"""

from __future__ import annotations

import asyncio
import select
import socket
from collections.abc import Callable
from typing import Any

from radmfa.radius import wire

READ_BATCH = 2048  # datagrams per wake-up; then the requests already admitted get their turn
RECEIVE_BUFFER = 4 << 20  # bytes asked of the kernel (SO_RCVBUF)
_READ_SIZE = wire.MAX_LEN + 1  # one more than RADIUS allows, so an oversized datagram is seen as such

Addr = tuple[str, int]


class UdpEndpoint:
    """A bound non-blocking UDP socket: ``on_datagram`` for what arrives, ``sendto`` for replies."""

    def __init__(self, sock: socket.socket, on_datagram: Callable[[bytes, Addr], None]) -> None:
        self._sock = sock
        self._on_datagram = on_datagram
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting = select.poll()  # is another datagram queued? (no failed read to find out)
        self._waiting.register(sock.fileno(), select.POLLIN)
        self._ipv4 = sock.family == socket.AF_INET  # recvfrom's address is then (host, port) already
        self.send_errors = 0

    @classmethod
    def bind(cls, host: str, port: int, on_datagram: Callable[[bytes, Addr], None], *,
             reuse_port: bool = False) -> UdpEndpoint:
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
        try:
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
            sock.setblocking(False)
            sock.bind((host, port))
        except OSError:
            sock.close()
            raise
        return cls(sock, on_datagram)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        loop.add_reader(self._sock.fileno(), self._readable)

    def _readable(self) -> None:
        recvfrom, deliver, ipv4 = self._sock.recvfrom, self._on_datagram, self._ipv4
        try:
            data, addr = recvfrom(_READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            pass  # an error queued on the socket (e.g. ICMP); a datagram may follow
        else:
            deliver(data, addr if ipv4 else (addr[0], addr[1]))
        if not self._waiting.poll(0):
            return  # nothing more: no failed read
        for _ in range(READ_BATCH - 1):
            try:
                data, addr = recvfrom(_READ_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue  # an error queued on the socket (e.g. ICMP); the next datagram is fine
            deliver(data, addr if ipv4 else (addr[0], addr[1]))

    def sendto(self, data: bytes, addr: Addr) -> None:
        try:
            self._sock.sendto(data, addr)
        except OSError:
            # Send buffer full or the route gone: the NAS retransmits and gets
            # the cached reply (RFC 5080 §2.2.2); nothing here may block.
            self.send_errors += 1

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "sockname":
            return self._sock.getsockname()
        if name == "socket":
            return self._sock
        return default

    def close(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._sock.fileno())
        self._loop = None
        self._sock.close()

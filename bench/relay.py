"""A counting UDP relay between radmfa and its upstream (retransmit scenario).

radmfa's upstream is set to the relay's port; the relay forwards every
datagram to the real upstream from one socket per radmfa source port (so the
upstream still sees distinct clients' Identifiers apart) and sends the replies
back. It counts datagrams and distinct requests (Identifier + Request
Authenticator) per radmfa source port, which tells whether a storm of
retransmissions from the NAS reached the upstream once or several times.
It runs in its own process and stops by itself after ``max_s`` at the latest.
"""

from __future__ import annotations

import multiprocessing
import selectors
import socket
import time
from typing import Any

Addr = tuple[str, int]


def _serve(listen: socket.socket, upstream: Addr, stop: Any, counts: Any, max_s: float) -> None:
    sel = selectors.DefaultSelector()
    sel.register(listen, selectors.EVENT_READ, None)
    back: dict[Addr, socket.socket] = {}
    seen: set[bytes] = set()
    packets = 0
    deadline = time.monotonic() + max_s
    while not stop.is_set() and time.monotonic() < deadline:
        for key, _ in sel.select(0.1):
            sock: socket.socket = key.fileobj  # type: ignore[assignment]
            while True:
                try:
                    data, addr = sock.recvfrom(4096)
                except (BlockingIOError, InterruptedError):
                    break
                except ConnectionRefusedError:
                    continue
                if key.data is None:  # from radmfa: count, forward to the upstream
                    packets += 1
                    seen.add(b"%d:" % addr[1] + data[1:2] + data[4:20])  # port, Identifier, authenticator
                    out = back.get(addr[:2])
                    if out is None:
                        out = back[addr[:2]] = _udp(("127.0.0.1", 0))
                        sel.register(out, selectors.EVENT_READ, addr[:2])
                    out.sendto(data, upstream)
                else:  # from the upstream: back to the radmfa port it answers
                    listen.sendto(data, key.data)
        counts[0], counts[1] = packets, len(seen)
    for s in back.values():
        s.close()
    listen.close()


def _udp(addr: Addr) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(addr)
    s.setblocking(False)
    return s


class Relay:
    """``with Relay(upstream) as r:`` … ``r.address``, ``r.counts()``."""

    def __init__(self, upstream: Addr, *, max_s: float = 900.0) -> None:
        self.upstream = upstream
        self.max_s = max_s
        ctx = multiprocessing.get_context("fork")
        self._stop = ctx.Event()
        self._counts = ctx.RawArray("q", 2)
        self._sock = _udp(("127.0.0.1", 0))
        self.address: Addr = self._sock.getsockname()
        self._proc = ctx.Process(
            target=_serve, args=(self._sock, upstream, self._stop, self._counts, max_s), daemon=True
        )

    def start(self) -> Relay:
        self._proc.start()
        self._sock.close()  # the child holds its own copy
        return self

    @property
    def pid(self) -> int | None:
        return self._proc.pid

    def counts(self) -> tuple[int, int]:
        """(datagrams forwarded to the upstream, distinct requests among them) so far."""
        if not self._proc.is_alive():
            raise RuntimeError("the counting relay stopped unexpectedly (see its traceback above)")
        return int(self._counts[0]), int(self._counts[1])

    def stop(self) -> None:
        self._stop.set()
        self._proc.join(timeout=5)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join()

    def __enter__(self) -> Relay:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

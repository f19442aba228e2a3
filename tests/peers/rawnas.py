"""A NAS that sends exactly the bytes a test gives it, from one fixed UDP source port.

For what radclient cannot do: malformed packets, exact retransmissions (same
source port, Id and authenticator), and checking that nothing comes back.
Bytes in, bytes out: packet building and RADIUS crypto live elsewhere.
"""

from __future__ import annotations

import socket
import time
from types import TracebackType


class RawNas:
    """A blocking UDP socket connected to `server`, so only its datagrams are received.

    `timeout` is how long `receive` waits by default: generous, for a reply
    that must come on a busy machine; pass a short one to check for silence.
    """

    def __init__(self, server: tuple[str, int], *, timeout: float = 30.0,
                 bind: tuple[str, int] | None = None) -> None:
        host = server[0]
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.server = server
        self.timeout = timeout
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self._sock.bind(bind or ("::" if family == socket.AF_INET6 else "0.0.0.0", 0))  # noqa: S104
            self._sock.connect(server)
        except OSError:
            self._sock.close()
            raise

    @property
    def local_address(self) -> tuple[str, int]:
        """Our (host, port): what the server sees as the NAS's source."""
        address = self._sock.getsockname()
        return (address[0], address[1])

    def send(self, data: bytes) -> None:
        self._sock.send(data)

    def receive(self, timeout: float | None = None) -> bytes | None:
        """The next datagram from the server, or None if none came within `timeout`."""
        self._sock.settimeout(self.timeout if timeout is None else timeout)
        try:
            return self._sock.recv(65535)
        except TimeoutError:
            return None
        except ConnectionRefusedError:
            return None  # ICMP port unreachable: nobody listens there

    def exchange(self, data: bytes, timeout: float | None = None) -> bytes | None:
        """Send `data` and return the first reply, or None."""
        self.send(data)
        return self.receive(timeout)

    def receive_all(self, window: float) -> list[bytes]:
        """Every datagram that arrives within `window` seconds (e.g. to count duplicates)."""
        deadline = time.monotonic() + window
        received = []
        while (left := deadline - time.monotonic()) > 0:
            data = self.receive(left)
            if data is not None:
                received.append(data)
        return received

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> RawNas:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

"""Why a listening socket could not be opened, in words an operator can act on.

The event loops disagree on what a failed bind raises. asyncio raises
``OSError(errno, strerror)``; uvloop raises ``OSError("could not bind to
local_addr ...")`` for UDP with ``errno`` None and the real error (when at all)
only as the exception's cause, and for TCP an ``OSError`` whose strerror is a
whole sentence. We take the errno wherever it is; when there is none, one plain
bind of the same address with the same options tells us.
"""

from __future__ import annotations

import errno
import os
import socket

from radmfa.config import format_host_port
from radmfa.errors import RadmfaError

# Said after the reason for the errors whose remedy is not obvious from it.
_HINTS = {
    errno.EACCES: "ports below 1024 need root or CAP_NET_BIND_SERVICE",
    errno.EADDRNOTAVAIL: "is this an address of this host?",
}


class CannotListen(RadmfaError):
    """A listening socket could not be opened; the message names the address and why."""

    def __init__(self, host: str, port: int, reason: str) -> None:
        super().__init__(f"cannot listen on {format_host_port(host, port)}: {reason}")
        self.reason = reason


def family_of(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def bind_failure(exc: OSError, host: str, port: int, *, kind: socket.SocketKind, reuse_port: bool) -> CannotListen:
    """The CannotListen to raise for ``exc``, which binding (host, port) raised."""
    code = _errno_in(exc)
    if code is None:
        code = _probe(host, port, kind=kind, reuse_port=reuse_port)
    if code is None:  # the probe bound: the port came free meanwhile
        return CannotListen(host, port, str(exc) or type(exc).__name__)
    reason = os.strerror(code).lower()
    hint = _HINTS.get(code)
    return CannotListen(host, port, f"{reason} ({hint})" if hint else reason)


def _errno_in(exc: BaseException) -> int | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and isinstance(current.errno, int) and current.errno:
            return current.errno
        current = current.__cause__ or current.__context__
    return None


def _probe(host: str, port: int, *, kind: socket.SocketKind, reuse_port: bool) -> int | None:
    """Bind once as the event loop would have; the errno, or None when it binds."""
    try:
        with socket.socket(family_of(host), kind) as probe:
            if kind == socket.SOCK_STREAM:  # asyncio's servers set it; so does uvloop
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            probe.bind((host, port))
    except OSError as exc:
        return exc.errno
    return None

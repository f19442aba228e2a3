"""Free UDP ports on this machine, found by letting the kernel pick them."""

from __future__ import annotations

import socket
from contextlib import ExitStack


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def free_udp_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Return `count` distinct UDP ports that were free on `host` a moment ago.

    All sockets stay bound until every port is chosen, so the ports differ.
    Another process may still take one before the caller binds it; callers
    that can retry on "address in use" should.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, not {count}")
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(_family(host), socket.SOCK_DGRAM))
            sock.bind((host, 0))
            ports.append(sock.getsockname()[1])
        return ports


def free_udp_port(host: str = "127.0.0.1") -> int:
    """Return a UDP port that was free on `host` a moment ago."""
    return free_udp_ports(1, host)[0]


def free_tcp_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that was free on `host` a moment ago."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])

"""The NAS-facing UDP socket: every queued datagram read at a wake-up, a lone
one without a failed read, addresses as (host, port). Real sockets on loopback."""

from __future__ import annotations

import socket

import pytest

from radmfa.service.radius import Tally
from radmfa.service.udp import UdpEndpoint


class CountingSocket(socket.socket):
    """A real socket that counts its reads and the failed ones."""

    reads = 0
    failed = 0

    def recvfrom(self, size: int, *args: int) -> tuple[bytes, object]:  # type: ignore[override]
        self.reads += 1
        try:
            return super().recvfrom(size, *args)
        except BlockingIOError:
            self.failed += 1
            raise


def endpoint(family: int, host: str) -> tuple[UdpEndpoint, CountingSocket, list[tuple[bytes, tuple[str, int]]]]:
    got: list[tuple[bytes, tuple[str, int]]] = []
    sock = CountingSocket(family, socket.SOCK_DGRAM)
    sock.setblocking(False)
    sock.bind((host, 0))
    return UdpEndpoint(sock, lambda data, addr: got.append((data, addr))), sock, got


def test_a_lone_datagram_is_read_without_a_failed_read():
    ep, sock, got = endpoint(socket.AF_INET, "127.0.0.1")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as nas:
        nas.bind(("127.0.0.1", 0))
        nas.sendto(b"one", sock.getsockname())  # loopback: queued before sendto returns
        ep._readable()
        assert got == [(b"one", nas.getsockname())]
        assert (sock.reads, sock.failed) == (1, 0)
        ep._readable()  # a spurious wake-up: one failed read, nothing delivered
        assert len(got) == 1 and sock.failed == 1
    ep.close()


def test_every_queued_datagram_is_read_in_one_wake_up_in_order():
    ep, sock, got = endpoint(socket.AF_INET, "127.0.0.1")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as nas:
        nas.bind(("127.0.0.1", 0))
        for i in range(50):
            nas.sendto(b"%d" % i, sock.getsockname())
        ep._readable()
        assert [d for d, _ in got] == [b"%d" % i for i in range(50)]
        assert {a for _, a in got} == {nas.getsockname()}
        assert sock.failed == 1  # the batch ends on an empty socket
    ep.close()


def test_an_ipv6_source_is_reported_as_host_and_port():
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        ep, sock, got = endpoint(socket.AF_INET6, "::1")
    except OSError:
        pytest.skip("no IPv6 loopback")
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as nas:
        nas.bind(("::1", 0))
        nas.sendto(b"a", sock.getsockname())
        nas.sendto(b"b", sock.getsockname())
        ep._readable()
        port = nas.getsockname()[1]
        assert got == [(b"a", ("::1", port)), (b"b", ("::1", port))]
    ep.close()


def test_a_tally_counts_as_a_counter_does():
    t = Tally()
    assert t["missing"] == 0 and "missing" not in t
    t["a"] += 1
    t["a"] += 2
    assert t == {"a": 3} and dict(t) == {"a": 3}
    del t["a"]
    assert not t

"""The reuseport steering program, run by the real kernel on real sockets."""

from __future__ import annotations

import socket
import time

from radmfa.service.reuseport import attach_identifier_steering, identifier_program


def test_program_shape():
    assert identifier_program(3) == [(0x30, 0, 0, 1), (0x94, 0, 0, 3), (0x16, 0, 0, 0)]


def test_one_source_port_is_spread_by_identifier_and_retransmissions_stay_put():
    socks = []
    try:
        for _ in range(2):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            s.bind(("127.0.0.1", socks[0].getsockname()[1] if socks else 0))
            s.setblocking(False)
            socks.append(s)
        assert attach_identifier_steering(socks[0], 2)
        nas = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sent = list(range(20)) + [7, 7, 8]  # two retransmissions of 7, one of 8
        for ident in sent:
            nas.sendto(bytes([1, ident]) + bytes(18), socks[0].getsockname())
        nas.close()
        got: list[list[int]] = [[] for _ in socks]
        deadline = time.monotonic() + 30  # loopback delivers at once; the margin is for a busy machine
        while sum(map(len, got)) < len(sent) and time.monotonic() < deadline:
            for s, ids in zip(socks, got, strict=True):
                try:
                    ids.append(s.recv(64)[1])
                except BlockingIOError:
                    time.sleep(0.001)
        assert sorted(got[0] + got[1]) == sorted(list(range(20)) + [7, 7, 8])
        assert {i % 2 for i in got[0]} == {0} and {i % 2 for i in got[1]} == {1}
    finally:
        for s in socks:
            s.close()

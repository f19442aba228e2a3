"""The tests' UDP exchange takes as the reply only what a RADIUS client would:
a datagram from the server asked, with the request's Identifier."""

from __future__ import annotations

import socket
import threading

from tests.integration.harness import udp_exchange


def _server_that_answers(replies_from_others: int) -> tuple[socket.socket, threading.Thread]:
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.settimeout(10)

    def answer() -> None:
        data, client = server.recvfrom(4096)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
            for _ in range(replies_from_others):
                stranger.sendto(bytes([2, data[1]]) + b"from another port", client)  # right Identifier, wrong source
        server.sendto(bytes([2, (data[1] + 1) % 256]) + b"a late answer to another request", client)
        server.sendto(bytes([2, data[1]]) + b"the answer", client)

    thread = threading.Thread(target=answer)
    thread.start()
    return server, thread


def test_the_reply_is_the_servers_with_the_requests_identifier() -> None:
    server, thread = _server_that_answers(replies_from_others=2)
    try:
        reply = udp_exchange(server.getsockname(), bytes([12, 77]) + bytes(18), timeout=10)
    finally:
        thread.join()
        server.close()
    assert reply == bytes([2, 77]) + b"the answer"


def test_nothing_but_strays_is_no_reply() -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.bind(("127.0.0.1", 0))

        def stray() -> None:
            server.recvfrom(4096)
            server.sendto(bytes([2, 5]) + b"another request's answer", client.getsockname())

        thread = threading.Thread(target=stray)
        thread.start()
        try:
            assert udp_exchange(server.getsockname(), bytes([12, 4]) + bytes(18), timeout=1.0, sock=client) is None
        finally:
            thread.join()
            server.close()

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import Radmfa
from tests.peers.fixtures import require_binary


@pytest.fixture
def radmfa_factory(tmp_path: Path) -> Iterator:
    started: list[Radmfa] = []

    def make(**kwargs: object) -> Radmfa:
        sub = tmp_path / f"radmfa{len(started)}"
        sub.mkdir()
        server = Radmfa(sub, **kwargs)  # type: ignore[arg-type]
        server.write_config()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def radclient_bin() -> str:
    return require_binary("radclient")


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A TCP port that accepts connections (kernel backlog) and never answers."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    yield s.getsockname()[1]
    s.close()

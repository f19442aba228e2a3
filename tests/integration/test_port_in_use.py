"""`radmfa serve` on an address another process holds: one clear line, exit 1.

A real socket holds the port (bound to port 0 and kept open, so no other
process can take it meanwhile). The server runs as a real process, once on
uvloop (the default install) and once on plain asyncio: the two loops report a
failed bind differently and the operator must read the same sentence.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from radmfa.service.binding import CannotListen, bind_failure
from tests.integration.harness import REPO

# Runs `radmfa serve` with `import uvloop` failing, as on an install without the `fast` extra.
_WITHOUT_UVLOOP = "import sys; sys.modules['uvloop'] = None; from radmfa.cli.main import main; sys.exit(main())"
START_TIMEOUT_S = 60.0  # a busy CI machine; the server fails long before


@pytest.fixture(params=["uvloop", "asyncio"])
def loop_kind(request: pytest.FixtureRequest) -> str:
    if request.param == "uvloop":
        pytest.importorskip("uvloop")
    return str(request.param)


def _holder(family: socket.AddressFamily, kind: socket.SocketKind) -> Iterator[socket.socket]:
    host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    sock = socket.socket(family, kind)
    try:
        sock.bind((host, 0))
    except OSError as exc:
        sock.close()
        pytest.skip(f"cannot bind {host} here: {exc}")
    if kind == socket.SOCK_STREAM:
        sock.listen()
    with sock:
        yield sock


def _config(tmp: Path, *, radius: str, http: str = "") -> Path:
    (tmp / "clients.conf").write_text('client localhost {\n ipaddr = 127.0.0.1\n secret = "s3cret-for-tests"\n}\n')
    path = tmp / "radmfa.toml"
    path.write_text(
        f"""
[radius]
listen = ["{radius}"]
clients_file = "clients.conf"
dictionary = "{REPO / "dictionary"}"

[upstream]
type = "local"

[store]
url = "sqlite:///radmfa.db"
key_file = "radmfa.key"

[log]
format = "json"
{http}
"""
    )
    return path


def _serve(config: Path, loop_kind: str) -> subprocess.CompletedProcess[str]:
    args = ["serve", "--config", str(config)]
    command = [sys.executable, "-m", "radmfa", *args]
    if loop_kind == "asyncio":
        command = [sys.executable, "-c", _WITHOUT_UVLOOP, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=START_TIMEOUT_S, check=False)


def _assert_refused(result: subprocess.CompletedProcess[str], expected: str) -> None:
    shown = f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 1, shown
    assert result.stderr.strip().splitlines()[-1] == f"radmfa: error: radmfa.toml: {expected}", shown
    # Nothing served, so nothing "stopped": the error is the only thing said.
    assert '"stopped"' not in result.stdout + result.stderr, shown
    assert "None" not in result.stderr, shown


@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6], ids=["ipv4", "ipv6"])
def test_radius_port_in_use_is_named_with_its_reason(
    tmp_path: Path, loop_kind: str, family: socket.AddressFamily
) -> None:
    for held in _holder(family, socket.SOCK_DGRAM):
        host, port = held.getsockname()[:2]
        shown = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
        result = _serve(_config(tmp_path, radius=shown), loop_kind)
        _assert_refused(result, f"[radius] listen: cannot listen on {shown}: address already in use")


def test_http_port_in_use_is_named_with_its_reason(tmp_path: Path, loop_kind: str) -> None:
    for held in _holder(socket.AF_INET, socket.SOCK_STREAM):
        port = held.getsockname()[1]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as free:
            free.bind(("127.0.0.1", 0))
            radius = f"127.0.0.1:{free.getsockname()[1]}"
        http = f'[http]\nlisten = ["127.0.0.1:{port}"]\npublic_url = "https://mfa.example.com"\n'
        result = _serve(_config(tmp_path, radius=radius, http=http), loop_kind)
        _assert_refused(result, f"[http] listen: cannot listen on 127.0.0.1:{port}: address already in use")


def test_a_bind_error_without_errno_is_explained_by_binding_again() -> None:
    # uvloop's UDP error: no errno on the exception, none on its cause.
    for held in _holder(socket.AF_INET, socket.SOCK_DGRAM):
        port = held.getsockname()[1]
        failure = bind_failure(
            OSError("could not bind to local_addr"), "127.0.0.1", port, kind=socket.SOCK_DGRAM, reuse_port=False
        )
        assert isinstance(failure, CannotListen)
        assert str(failure) == f"cannot listen on 127.0.0.1:{port}: address already in use"

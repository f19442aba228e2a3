"""`radmfa login` against a tiny in-test RADIUS responder.

The responder is honest: it drops any request whose Message-Authenticator does
not verify with its secret, recovers User-Password with real RFC 2865
unhiding and checks it, and signs its replies (MA first) for the request's
authenticator. So a passing test means the client spoke real RADIUS.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from radmfa.cli.access_client import AccessClient, NoAnswer
from radmfa.core.model import Attr
from radmfa.radius import crypto, wire
from tests.cli.conftest import MINIMAL_CONFIG, Radmfa, assert_one_line_error

REPO = Path(__file__).resolve().parents[2]
SECRET = b"testing123-secret"
PASSWORD = b"pw-alice"
CODE = b"123456"
STATE = b"S" * 16
FILTER_ID = 11


@dataclass
class Responder:
    """Password, then a challenge for the code; Accept with Filter-Id, or Reject.

    ``reply_secret`` (default: ``secret``) signs the replies, to play a
    server that does not share the client's secret.
    """

    secret: bytes
    reply_secret: bytes | None = None
    sock: socket.socket = field(init=False)
    seen: list[wire.Frame] = field(default_factory=list)
    dropped: int = 0

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.sock.getsockname()
        return str(host), int(port)

    def start(self) -> Responder:
        self._thread.start()
        return self

    def settle(self, count: Callable[[], int], expected: int, timeout: float = 30.0) -> int:
        """``count()`` once the responder has caught up with the requests sent
        to it (the client may give up before a busy machine ran this thread)."""
        deadline = time.monotonic() + timeout
        while count() < expected and time.monotonic() < deadline:
            time.sleep(0.01)
        return count()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            reply = self._reply(data)
            if reply is None:
                self.dropped += 1
            else:
                self.sock.sendto(reply, peer)

    def _reply(self, data: bytes) -> bytes | None:
        frame = wire.parse(data, frozenset((wire.ACCESS_REQUEST,)))
        if frame.ma_offset < 0 or not crypto.verify_request_ma(
            frame.data, frame.ma_offset, self.secret
        ):
            return None
        hidden = frame.get(wire.USER_PASSWORD)
        assert hidden is not None
        password = crypto.unhide_password(hidden, self.secret, frame.authenticator)
        self.seen.append(frame)
        code, attrs = self.answer(frame, password)
        return crypto.sign_response(
            code, frame.ident, frame.authenticator, wire.encode_attrs(attrs),
            self.reply_secret or self.secret,
        )

    @staticmethod
    def answer(frame: wire.Frame, password: bytes) -> tuple[int, list[Attr]]:
        if frame.get(wire.USER_NAME) != b"alice":
            return wire.ACCESS_REJECT, [(wire.REPLY_MESSAGE, b"Unknown user.")]
        if frame.get(wire.STATE) is None and password == PASSWORD:
            return wire.ACCESS_CHALLENGE, [
                (wire.REPLY_MESSAGE, b"Enter the code from your authenticator app:"),
                (wire.STATE, STATE),
            ]
        if frame.get(wire.STATE) == STATE and password == CODE:
            return wire.ACCESS_ACCEPT, [(FILTER_ID, b"vpn-users"),
                                        (wire.REPLY_MESSAGE, b"Welcome")]
        return wire.ACCESS_REJECT, [(wire.REPLY_MESSAGE, b"Wrong password or code.")]


@pytest.fixture
def responder() -> Iterator[Responder]:
    server = Responder(SECRET).start()
    yield server
    server.stop()


@pytest.fixture
def login_config(tmp_path: Path, responder: Responder, radmfa: Radmfa) -> Radmfa:
    """A config whose listen address is the responder and whose clients.conf has its secret."""
    host, port = responder.address
    shutil.copy(REPO / "dictionary", tmp_path / "dictionary")
    (tmp_path / "clients.conf").write_text(
        f"client localhost {{\n  ipaddr = 127.0.0.1\n  secret = {SECRET.decode()}\n}}\n"
    )
    radmfa.config_path.write_text(
        f'[radius]\nlisten = ["{host}:{port}"]\nclients_file = "clients.conf"\n' + MINIMAL_CONFIG
    )
    return radmfa


def test_password_challenge_code_accept(login_config: Radmfa, responder: Responder) -> None:
    result = login_config("login", "alice", stdin=f"{PASSWORD.decode()}\n{CODE.decode()}\n")
    assert result.status == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == "Enter the code from your authenticator app:"
    assert lines[1] == "Access-Accept"
    assert lines[2:] == ['  Filter-Id = "vpn-users"', '  Reply-Message = "Welcome"']
    first, second = responder.seen
    assert first.get(wire.NAS_IP_ADDRESS) == bytes((127, 0, 0, 1))
    assert first.get(wire.STATE) is None and second.get(wire.STATE) == STATE
    assert first.ident != second.ident and first.authenticator != second.authenticator
    for frame in responder.seen:  # BlastRADIUS: Message-Authenticator is the first attribute
        assert frame.attrs[0][0] == wire.MESSAGE_AUTHENTICATOR


def test_wrong_code_is_reject(login_config: Radmfa) -> None:
    result = login_config("login", "alice", "--password", PASSWORD.decode(), stdin="000000\n")
    assert result.status == 1
    assert result.out.splitlines()[-2:] == ["Access-Reject", "  Wrong password or code."]


def test_explicit_server_and_secret(radmfa: Radmfa, responder: Responder) -> None:
    host, port = responder.address
    result = radmfa("login", "bob", "--server", f"{host}:{port}", "--secret", SECRET.decode(),
                    "--password", "x")
    assert result.status == 1
    assert "Unknown user." in result.out


def test_wrong_secret_gets_no_answer(radmfa: Radmfa, responder: Responder) -> None:
    host, port = responder.address
    result = radmfa("login", "alice", "--server", f"{host}:{port}", "--secret", "wrong",
                    "--password", "x", "--timeout", "0.1")
    line = assert_one_line_error(result, status=4)  # 2 is a wrong command line
    assert "no answer" in line and "3 tries" in line
    assert responder.settle(lambda: responder.dropped, 3) == 3 and responder.seen == []


def test_reply_signed_with_another_secret_is_dropped(responder: Responder) -> None:
    responder.reply_secret = b"not-the-shared-secret"
    with AccessClient(responder.address, SECRET, timeout=0.1, tries=2) as client, \
            pytest.raises(NoAnswer, match="2 replies were dropped"):
        client.send(b"alice", PASSWORD)
    assert responder.settle(lambda: len(responder.seen), 2) == 2  # the request itself was good, and was resent once


def test_retransmission_is_the_same_packet(responder: Responder) -> None:
    """RFC 5080 §2.2.1: a retry keeps the Identifier and Request Authenticator."""
    responder.reply_secret = b"not-the-shared-secret"
    with AccessClient(responder.address, SECRET, timeout=0.1, tries=3) as client, \
            pytest.raises(NoAnswer):
        client.send(b"alice", PASSWORD)
    assert responder.settle(lambda: len(responder.seen), 3) == 3
    assert len({frame.data for frame in responder.seen}) == 1


def test_missing_client_entry_names_the_fix(radmfa: Radmfa, tmp_path: Path) -> None:
    (tmp_path / "clients.conf").write_text(
        "client lan {\n  ipaddr = 10.0.0.0/8\n  secret = s\n}\n"
    )
    radmfa.config_path.write_text(
        '[radius]\nlisten = ["127.0.0.1:1"]\nclients_file = "clients.conf"\n' + MINIMAL_CONFIG
    )
    line = assert_one_line_error(radmfa("login", "alice", "--password", "x"))
    assert "127.0.0.1" in line and "--secret" in line


@pytest.mark.parametrize("timeout", ["0", "-1", "soon", "61"])
def test_bad_timeout_is_a_usage_error(radmfa: Radmfa, timeout: str) -> None:
    assert_one_line_error(radmfa("login", "alice", "--timeout", timeout), status=2)

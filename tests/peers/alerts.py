"""Local receivers for fraud alerts: a real SMTP server (aiosmtpd) and a
webhook endpoint (http.server), each in its own thread, recording what came."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_tcp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    message: Message


@dataclass
class MailSink:
    host: str
    port: int
    mails: list[Mail] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd's hook
        self.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        self.arrived.set()
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        if isinstance(data, LoginPassword):
            self.logins.append((data.login.decode(), data.password.decode()))
            ok = data.password == b"mail-pass-123"
            return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535 itself
        return AuthResult(success=False, handled=False)


@pytest.fixture
def mail_sink() -> Iterator[MailSink]:
    sink = MailSink("127.0.0.1", free_tcp_port())
    controller = Controller(
        sink, hostname=sink.host, port=sink.port, authenticator=sink.authenticate, auth_require_tls=False
    )
    controller.start()
    yield sink
    controller.stop()


@dataclass
class Hook:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    url: str = ""
    hooks: list[Hook] = field(default_factory=list)
    fail_first: int = 0  # answer 500 to this many requests first
    hold: threading.Event | None = None  # when set: wait for it before answering
    arrived: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if receiver.hold is not None:
                receiver.hold.wait(10)
            if receiver.fail_first:
                receiver.fail_first -= 1
                self.send_response(500)
            else:
                receiver.hooks.append(Hook(self.path, dict(self.headers.items()), body))
                receiver.arrived.set()
                self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:  # keep pytest's output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/radmfa?token=hook-token-xyz"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    if receiver.hold is not None:
        receiver.hold.set()
    server.shutdown()
    server.server_close()

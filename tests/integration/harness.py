"""Run radmfa as a real process (`python -m radmfa serve`) for end-to-end tests.

The test writes radmfa.toml and clients.conf into a temp dir, seeds the store
through the same Store API the CLI uses, starts the server, and waits until it
answers a Status-Server. Logs (JSON lines) are kept for assertions.

Tests run on busy machines (CI shares two cores): every wait for something
that will happen (start-up, a reply) has a generous deadline, and a wait that
runs out shows radmfa's log. Only checks that nothing comes back use short
windows (SILENCE_S), after an event that says the server has seen the packet
where there is one.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import socket
import struct
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from radmfa.config import load
from radmfa.core.model import NewToken, NewUser
from radmfa.radius import crypto, wire
from radmfa.store import open_store
from radmfa.upstream.passwords import hash_password
from tests.peers.ports import free_udp_port

REPO = Path(__file__).resolve().parents[2]
NAS_SECRET = "nas-secret-0123456789"  # noqa: S105 - test client only
START_TIMEOUT_S = 60.0  # python start-up, imports and the store's migrations on a loaded machine
STOP_TIMEOUT_S = 60.0  # SIGTERM drains requests in flight first
REPLY_WAIT_S = 30.0  # for a reply that must come (it normally takes milliseconds)
SILENCE_S = 0.5  # for a reply that must not come


@dataclass
class Radmfa:
    tmp: Path
    upstream: str = 'type = "local"'
    mfa: str = ""
    radius_extra: str = "reject_delay_s = 0"
    accounting: str = "accounting_listen = []"  # [radius]: none unless a test asks
    clients: str = ""
    store_url: str = "sqlite:///radmfa.db"
    key_file: str = "radmfa.key"
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)
    extra: str = ""  # more radmfa.toml, appended (e.g. [http], [providers.*], [clients.*])
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.port = self.port or free_udp_port()
        self.log_path = self.tmp / "radmfa.log"
        self.clients = self.clients or (
            f'client localhost {{\n  ipaddr = 127.0.0.1\n  secret = "{NAS_SECRET}"\n'
            "  require_message_authenticator = yes\n}\n"
        )

    @property
    def config_path(self) -> Path:
        return self.tmp / "radmfa.toml"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def write_config(self) -> None:
        (self.tmp / "clients.conf").write_text(self.clients)
        self.config_path.write_text(
            f"""
[radius]
listen = ["127.0.0.1:{self.port}"]
clients_file = "clients.conf"
dictionary = "{REPO / "dictionary"}"
{self.radius_extra}
{self.accounting}

[upstream]
{self.upstream}

[mfa]
{self.mfa}

[store]
url = "{self.store_url}"
key_file = "{self.key_file}"

[log]
format = "json"
level = "info"
{self.extra}
"""
        )

    # ---- store seeding through the real Store API ----

    async def _seed(self, users: list[tuple[str, str | None, bytes | None]]) -> None:
        cfg = load(self.config_path)
        store = await open_store(cfg.store.url, key_file=cfg.store.key_file, base_dir=cfg.base_dir)
        try:
            for name, password, seed in users:
                await store.add_user(NewUser(name, password_hash=hash_password(password) if password else None))
                if seed is not None:
                    await store.add_token(name, NewToken("totp", seed))
        finally:
            await store.close()

    def add_users(self, *users: tuple[str, str | None, bytes | None]) -> None:
        # In a thread: callers may themselves be inside a running event loop.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, self._seed(list(users))).result()

    # ---- process ----

    def start(self, timeout: float = START_TIMEOUT_S) -> Radmfa:
        if not self.config_path.exists():
            self.write_config()
        env = dict(os.environ, PYTHONUNBUFFERED="1", **self.env)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "radmfa", "serve", "--config", str(self.config_path)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"radmfa exited {self.proc.returncode}:\n{self.log_text()}")
            if self.status_server(timeout=0.2) is not None:
                return self
        self.stop()
        raise RuntimeError(f"radmfa did not answer Status-Server within {timeout} s; its log:\n"
                           f"{self.log_text() or '(empty: it never got as far as logging)'}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT_S) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        code = self.proc.returncode
        self.proc = None
        return code

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_event(self, event: str, *, count: int = 1, timeout: float = REPLY_WAIT_S,
                       **fields: object) -> dict[str, object]:
        """The ``count``-th log event named ``event`` (with these field values), once it is there."""
        deadline = time.monotonic() + timeout
        while True:
            found = [e for e in self.events()
                     if e.get("event") == event and all(e.get(k) == v for k, v in fields.items())]
            if len(found) >= count:
                return found[count - 1]
            if time.monotonic() > deadline:
                raise AssertionError(f"no {event!r} event {fields or ''} within {timeout} s; radmfa's log:\n"
                                     f"{self.log_text()[-8000:]}")
            time.sleep(0.05)

    def events(self) -> list[dict[str, object]]:
        out = []
        for line in self.log_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def status_server(self, timeout: float = REPLY_WAIT_S) -> bytes | None:
        ra = crypto.new_authenticator()
        # A fresh Identifier each time: start() probes every 0.2 s while radmfa
        # starts, and answers to earlier probes may reach a later probe's port.
        data = crypto.sign_request(wire.STATUS_SERVER, secrets.randbelow(256), ra, b"", NAS_SECRET.encode())
        reply = udp_exchange(("127.0.0.1", self.port), data, timeout)
        if reply is not None:
            assert crypto.verify_response(reply, ra, NAS_SECRET.encode(), 22)
        return reply

    def __enter__(self) -> Radmfa:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def udp_exchange(
    server: tuple[str, int], data: bytes, timeout: float, sock: socket.socket | None = None
) -> bytes | None:
    """Send ``data`` to ``server`` and return its reply, or None after ``timeout``.

    A reply is what a RADIUS client takes for one (RFC 2865 §3, Identifier):
    a datagram from ``server`` with the request's Identifier. Anything else
    arriving meanwhile (a late answer to an earlier request whose source port
    this socket now has) is passed by, as radmfa's own upstream does.
    """
    own = sock is None
    s = sock or socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ident = data[1] if len(data) > 1 else None
    deadline = time.monotonic() + timeout
    try:
        s.sendto(data, server)
        while (left := deadline - time.monotonic()) > 0:
            s.settimeout(left)
            try:
                reply, source = s.recvfrom(4096)
            except TimeoutError:
                return None
            if source[:2] == server and (ident is None or (len(reply) > 1 and reply[1] == ident)):
                return reply
        return None
    finally:
        if own:
            s.close()


def access_request(
    ident: int,
    attrs: list[tuple[int, bytes]],
    *,
    secret: str = NAS_SECRET,
    password: bytes | None = None,
    with_ma: bool = True,
    authenticator: bytes | None = None,
) -> tuple[bytes, bytes]:
    """Build an Access-Request by hand (for what radclient cannot send)."""
    ra = authenticator or crypto.new_authenticator()
    attrs = list(attrs)
    if password is not None:
        attrs.append((wire.USER_PASSWORD, crypto.hide_password(password, secret.encode(), ra)))
    body = wire.encode_attrs(attrs)
    if with_ma:
        return crypto.sign_request(wire.ACCESS_REQUEST, ident, ra, body, secret.encode()), ra
    return struct.pack("!BBH", 1, ident, 20 + len(body)) + ra + body, ra

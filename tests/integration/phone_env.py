"""Set-up shared by the phone-factor integration tests: radmfa (subprocess)
with [http], a fake Twilio, a fake ntfy and an SMTP sink; users seeded
through the real Store API."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

from radmfa.config import load
from radmfa.core.admin_ports import Store
from radmfa.core.model import NewUser, User
from radmfa.store import open_store
from radmfa.upstream.passwords import hash_password
from tests.fakes.ntfy import FakeNtfy
from tests.fakes.server import free_tcp_port
from tests.fakes.smtp import SmtpSink
from tests.fakes.twilio import NUMBER, SID, TOKEN, FakeTwilio
from tests.fakes.webhook import FakeWebhook
from tests.integration.harness import NAS_SECRET, Radmfa

T = TypeVar("T")
NTFY_TOKEN = "tk_fake_ntfy_token"


@dataclass
class Peers:
    twilio: FakeTwilio
    ntfy: FakeNtfy
    smtp: SmtpSink


@pytest.fixture
def peers() -> Iterator[Peers]:
    twilio, ntfy, smtp = FakeTwilio().start(), FakeNtfy(token=NTFY_TOKEN).start(), SmtpSink().start()
    yield Peers(twilio, ntfy, smtp)
    twilio.stop()
    ntfy.stop()
    smtp.stop()


@pytest.fixture
def hook() -> Iterator[FakeWebhook]:
    """A generic HTTP receiver: a webhook provider's or the fraud alert's."""
    fake = FakeWebhook().start()
    yield fake
    fake.stop()


def login(radclient: Any, server: Radmfa, user: str, password: str | None, state: str | None = None, *,
          timeout: float = 60, retries: int = 1) -> Any:
    """One Access-Request through radclient; its reply."""
    packet: dict[str, str] = {"User-Name": user}
    if password is not None:
        packet["User-Password"] = password
    if state is not None:
        packet["State"] = state
    return radclient(server.address, NAS_SECRET, [packet], timeout=timeout, retries=retries)[0]


def phone_config(peers: Peers, http_port: int, *, clients: str = "", extra_toml: str = "") -> str:
    return f"""
[http]
listen = ["127.0.0.1:{http_port}"]
public_url = "http://127.0.0.1:{http_port}"

[providers.tw]
type = "twilio"
base_url = "{peers.twilio.url}"
account_sid = "{SID}"
auth_token = "{TOKEN}"
sender = "{NUMBER}"

[providers.push]
type = "ntfy"
base_url = "{peers.ntfy.url}"
auth_token = "{NTFY_TOKEN}"

[providers.mail]
type = "smtp"
host = "127.0.0.1"
port = {peers.smtp.port}
sender = "mfa@example.com"
{clients}
{extra_toml}
"""


PHONE_MFA = (
    'sms_provider = "tw"\nvoice_provider = "tw"\npush_provider = "push"\nemail_provider = "mail"\n'
)


def make_server(factory: Callable[..., Radmfa], peers: Peers, *, mfa: str = "", clients: str = "",
                oob_timeout_s: float = 30, extra_toml: str = "", **kw: Any) -> Radmfa:
    http_port = free_tcp_port()
    mfa = PHONE_MFA + f"oob_timeout_s = {oob_timeout_s}\n" + mfa
    server = factory(mfa=mfa, extra=phone_config(peers, http_port, clients=clients, extra_toml=extra_toml), **kw)
    server.http_port = http_port  # type: ignore[attr-defined]
    return server


def in_store(server: Radmfa, work: Callable[[Store], Any]) -> Any:
    async def go() -> Any:
        cfg = load(server.config_path)
        store = await open_store(cfg.store.url, key_file=cfg.store.key_file, base_dir=cfg.base_dir)
        try:
            return await work(store)
        finally:
            await store.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, go()).result()


def add_user(server: Radmfa, name: str, password: str | None = None, **profile: Any) -> None:
    """A user enrolled for push unless ``push_enrolled=False`` says otherwise."""
    profile.setdefault("push_enrolled", True)

    async def work(store: Store) -> None:
        await store.add_user(NewUser(name, password_hash=hash_password(password) if password else None, **profile))

    in_store(server, work)


def get_user(server: Radmfa, name: str) -> User | None:
    async def work(store: Store) -> User | None:
        return await store.get_user(name)

    result: User | None = in_store(server, work)
    return result


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0, server: Radmfa | None = None) -> Any:
    """Poll until ``predicate()`` is true (generous deadline); on failure show radmfa's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    log = f"; radmfa's log:\n{server.log_text()[-8000:]}" if server is not None else ""
    raise AssertionError(f"condition not met within {timeout} s{log}")


class Background:
    """Run a blocking call (radclient) in a thread; ``result()`` joins it."""

    def __init__(self, fn: Callable[[], T]) -> None:
        self._value: list[Any] = []
        self.done_at = 0.0

        def run() -> None:
            self._value.append(fn())
            self.done_at = time.monotonic()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def result(self, timeout: float = 120.0) -> Any:
        self._thread.join(timeout)
        assert self._value, "call did not finish"
        return self._value[0]


__all__ = ["NAS_SECRET", "Background", "Peers", "add_user", "get_user", "in_store", "make_server", "peers", "wait_for"]


def cli(server: Radmfa, *args: str) -> str:
    """``radmfa …`` against the server's own config and store, as an admin runs it."""
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "radmfa", *args, "--config", str(server.config_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout

"""Micro-benchmarks for the admin's controls on the login hot path.

    .venv/bin/python -m bench.exemptions

* trusted-network lookup with many networks (set per prefix length vs a
  linear scan over ipaddress networks);
* the one store round trip every MFA login now makes (exemption_view) and a
  bypass consumption, on SQLite;
* one argon2 verification (an app-password login pays exactly one, in a thread).
"""

from __future__ import annotations

import asyncio
import ipaddress
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from radmfa.core import exemptions
from radmfa.core.model import NewUser
from radmfa.store import open_store
from radmfa.upstream.passwords import hash_app_password, verify_app_password

_PROBE = ipaddress.ip_address("192.0.2.1")  # in none of the networks: the worst case


def per_second(fn: Callable[[], object], seconds: float = 1.0) -> float:
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        n += 1
    return n / (time.perf_counter() - start)


def trusted() -> None:
    for count in (10, 10_000, 100_000):
        nets = [ipaddress.ip_network(f"10.{i // 256 % 256}.{i % 256}.0/24") for i in range(count)]
        nets += [ipaddress.ip_network(f"2001:db8:{i:x}::/48") for i in range(count // 10)]
        table = exemptions.TrustedNetworks(nets)
        fast = per_second(lambda t=table: "192.0.2.1" in t)
        slow = per_second(lambda n=nets: any(_PROBE in net for net in n), 0.5)
        print(f"trusted_networks {count + count // 10:>7}: {fast:>10.0f} lookups/s (linear scan {slow:>9.1f}/s)")


async def store_round_trips() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = await open_store("sqlite:///b.db", key_file=Path(tmp) / "k", base_dir=Path(tmp))
        user = await store.add_user(NewUser("alice"))
        now = datetime.now(UTC)
        await store.record_mfa_success(user.id, scopes=["0:user"], station="192.0.2.1", client="c", now=now)
        n = 2000
        start = time.perf_counter()
        for _ in range(n):
            await store.exemption_view(
                user.id, scopes=["0:user", "1:client:c"], station="192.0.2.1", client="c", now=now
            )
        view_ms = (time.perf_counter() - start) / n * 1000
        for _ in range(n):
            await store.create_bypass("alice", seconds=60, reason="bench", created_by="bench", now=now)
        start = time.perf_counter()
        for _ in range(n):
            await store.consume_bypass(user.id, client="c", station="", now=now)
        consume_ms = (time.perf_counter() - start) / n * 1000
        await store.close()
    print(f"sqlite exemption_view: {view_ms:.3f} ms/call; consume_bypass: {consume_ms:.3f} ms/call ({n} calls)")


async def argon2() -> None:
    password = exemptions.new_app_password()
    hashed = await hash_app_password(password)
    n = 20
    start = time.perf_counter()
    for _ in range(n):
        assert await verify_app_password(hashed, password)
    print(f"argon2 verify (app-password parameters): {(time.perf_counter() - start) / n * 1000:.1f} ms")


def main() -> None:
    trusted()
    asyncio.run(store_round_trips())
    asyncio.run(argon2())


if __name__ == "__main__":
    main()

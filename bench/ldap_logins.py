"""LDAP upstream throughput: concurrent LdapUpstream.authenticate calls
(search-then-bind) against the test slapd, over ldap://, StartTLS and ldaps://.

    PYTHONPATH=. .venv/bin/python -m bench.ldap_logins [--logins 400]

Prints logins per second per transport and pool_size. Not part of the test
suite: timings belong here, not in tests.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from tests.peers.slapd import BASE_DN, SERVICE_DN, SERVICE_PW, Slapd

from radmfa.config import load
from radmfa.core.model import AuthRequest
from radmfa.upstream.ldap import LdapUpstream


def _request() -> AuthRequest:
    return AuthRequest("bench", "nas", "127.0.0.1", b"alice", None, None, "", bytes(16), ())


async def _run(slapd: Slapd, transport: str, pool: int, logins: int) -> float:
    url = slapd.ldaps_url if transport == "ldaps" else slapd.url
    start_tls = "start_tls = true\n" if transport == "starttls" else ""
    path = Path(tempfile.mkdtemp(prefix="radmfa-bench-")) / "radmfa.toml"
    path.write_text(
        f'[upstream]\ntype = "ldap"\nservers = ["{url}"]\nca_file = "{slapd.pki.ca_file}"\n{start_tls}'
        f'bind_dn = "{SERVICE_DN}"\nbind_password = "{SERVICE_PW}"\nbase_dn = "{BASE_DN}"\npool_size = {pool}\n'
    )
    upstream = LdapUpstream(load(path).upstream)
    try:
        await upstream.authenticate(_request(), b"alice-pw")  # warm the pools
        t0 = time.perf_counter()
        results = await asyncio.gather(*(upstream.authenticate(_request(), b"alice-pw") for _ in range(logins)))
        elapsed = time.perf_counter() - t0
    finally:
        await upstream.close()
    if not all(r.accepted for r in results):
        raise RuntimeError("a benchmark login was rejected")
    return logins / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=400)
    args = parser.parse_args()
    slapd = Slapd(binary="/usr/sbin/slapd").start()
    try:
        for transport in ("ldap", "starttls", "ldaps"):
            for pool in (1, 4):
                rate = asyncio.run(_run(slapd, transport, pool, args.logins))
                print(f"{transport:9s} pool_size={pool}: {rate:6.0f} logins/s")
    finally:
        slapd.stop()


if __name__ == "__main__":
    main()

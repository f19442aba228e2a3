"""Instructions of the pipeline alone: Pipeline.handle with ports that cost next to nothing.

    PYTHONPATH=server .venv/bin/python -m bench.pipeline_alone              # under callgrind, 300 logins a flow
    PYTHONPATH=server .venv/bin/python -m bench.pipeline_alone --requests N

The three flows of bench.stages (proxied: a user radmfa does not know; inline
``password,code``; a challenge and its answer, claimed in one trip) driven
straight into Pipeline.handle, with a store that answers from a dict and an
upstream that accepts: what is left is core/ and factors/ (and the values
they build), without the wire, the store, the upstream hop or the audit.
The collector is off while counting (a collection lands on one flow or
another by chance). A "before" arm runs this same file with
``PYTHONPATH=<older code>/server``.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import os
import re
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FLOWS = ("proxied", "inline", "challenge")
NOW = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)
SEED = bytes(range(20))


def _pipeline(users: int) -> tuple[Any, bytes]:
    from radmfa.config import MfaConfig, PasswordsConfig
    from radmfa.core.model import Claimed, ExemptionView, PrimaryResult, Token, User
    from radmfa.core.pipeline import Pipeline
    from radmfa.factors import build_factors
    from radmfa.factors.totp import hotp
    from radmfa.service.policies import PolicyTable
    from radmfa.upstream.passwords import Passwords

    known = {f"u{i}": (User(i, f"u{i}"), [Token(i, f"u{i}", "totp", SEED)]) for i in range(users)}
    nothing, accept = ExemptionView(), PrimaryResult(True, ((11, b"vpn"),))

    class Store:
        async def login_exemption_view(self, name: str, **_: object) -> tuple[Any, list[Any], Any]:
            user, tokens = known.get(name, (None, []))
            return user, list(tokens), nothing

        async def consume_otp_step(self, *_: object, **__: object) -> bool:
            return True

        async def put_session(self, *_: object) -> None:
            return None

        async def claim_code(self, *_: object) -> Claimed:
            return Claimed.ACCEPTED

    class Upstream:
        async def authenticate(self, *_: object) -> PrimaryResult:
            return accept

    mfa = MfaConfig(unknown_users="password-only")
    store: Any = Store()
    otp = build_factors(store, window=1, prompt=mfa.prompt)["otp"]
    pipeline = Pipeline(mfa, Upstream(), store, otp, policies=PolicyTable(),  # type: ignore[arg-type]
                        passwords=Passwords(PasswordsConfig(), store))
    return pipeline, hotp(SEED, int(NOW.timestamp()) // 30)


async def _flow(pipeline: Any, code: bytes, flow: str, users: range) -> None:
    from radmfa.core.model import AuthRequest, Verdict
    from radmfa.radius import wire

    def request(name: bytes, password: bytes, state: bytes | None = None) -> AuthRequest:
        return AuthRequest("r1", "nas1", "10.0.0.1", name, password, state, "", bytes(16), ())

    for i in users:
        if flow == "proxied":
            d = await pipeline.handle(request(b"p%d" % i, b"pw"), now=NOW)
        elif flow == "inline":
            d = await pipeline.handle(request(b"u%d" % i, b"pw," + code), now=NOW)
        else:
            first = await pipeline.handle(request(b"u%d" % i, b"pw"), now=NOW)
            state = dict(first.attrs)[wire.STATE]
            d = await pipeline.handle(request(b"u%d" % i, code, state), now=NOW)
        if d.verdict is not Verdict.ACCEPT:
            raise RuntimeError(f"{flow}: user {i} answered {d.verdict}: {d.reason}")


async def _child(n: int, lib: str) -> None:
    cg = ctypes.CDLL(lib)
    pipeline, code = _pipeline(n * len(FLOWS) + 100)
    for flow in FLOWS:
        await _flow(pipeline, code, flow, range(50))  # warm up
    gc.collect()
    gc.disable()
    for k, flow in enumerate(FLOWS):
        cg.radmfa_cg_zero()
        await _flow(pipeline, code, flow, range(100 + k * n, 100 + (k + 1) * n))
        cg.radmfa_cg_dump(flow.encode())


def main() -> None:
    from bench.stages import _cg_library

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=300, help="logins a flow (default 300)")
    p.add_argument("--child", metavar="LIB", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        asyncio.run(_child(args.requests, args.child))
        return
    with tempfile.TemporaryDirectory(prefix="radmfa-pipeline-") as tmp:
        work = Path(tmp)
        lib = _cg_library(work)
        out = work / "cg.out"
        subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, "-m",
             "bench.pipeline_alone", "--requests", str(args.requests), "--child", str(lib)],
            check=True, capture_output=True, env=dict(os.environ, PYTHONHASHSEED="0"),
        )
        for dump in sorted(work.glob("cg.out.*")):
            text = dump.read_text(errors="replace")
            flow = re.search(r"^desc: Trigger: Client Request: (\w+)", text, re.M)
            total = re.search(r"^totals: (\d+)", text, re.M)
            if flow and total:
                print(f"{flow.group(1)}: {int(total.group(1)) // args.requests:,} instructions per request")


if __name__ == "__main__":
    main()

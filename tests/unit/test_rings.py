"""Rings 1 and 2 do no I/O (docs/architecture.md, STYLE.md).

Every module of radius/ (the codec) and core/ (the rules and the pipeline)
is imported alone in a fresh interpreter, and whatever that loads, however
indirectly, must not be an I/O library: the core is given its adapters as
ports, it never imports one. The pure helpers outside those folders are
held to their own imports, and nothing pure reads the clock.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "server" / "radmfa"
RINGS = sorted((*(PKG / "radius").glob("*.py"), *(PKG / "core").glob("*.py")))
# Pure by their own code, outside the rings (their packages' __init__ wire adapters).
PURE_HELPERS = [
    PKG / "factors" / "callbacks.py",  # callback tokens and code hashes
    PKG / "factors" / "voice.py",  # TwiML
    PKG / "service" / "fairness.py",  # per-client budgets and round robin
]
# Event loops, sockets, TLS, processes, databases, HTTP, SMTP, LDAP, argon2
# (run in threads), and the service's logging.
IO_MODULES = (
    "asyncio", "socket", "ssl", "select", "selectors", "subprocess", "concurrent.futures",
    "sqlite3", "_sqlite3", "asyncpg", "aiohttp", "aiosmtplib", "smtplib", "http.client", "http.server",
    "urllib.request", "ldap3", "argon2", "structlog", "uvloop",
)
FORBIDDEN_IMPORTS = {"asyncio", "socket", "sqlite3", "asyncpg", "aiohttp", "ldap3", "http", "urllib", "time",
                     "subprocess", "argon2", "structlog"}
_PROBE = """
import importlib, json, sys
before = set(sys.modules)
importlib.import_module(sys.argv[1])
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def loaded_by(module: str) -> list[str]:
    """Every module importing ``module`` loads, in a fresh interpreter."""
    done = subprocess.run([sys.executable, "-c", _PROBE, module], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout)
    return loaded


def io_among(modules: list[str]) -> list[str]:
    return sorted(m for m in modules if any(m == io or m.startswith(io + ".") for io in IO_MODULES))


def test_the_rings_are_all_there():
    names = {module_name(p) for p in RINGS}
    assert {"radmfa.radius.wire", "radmfa.core.pipeline", "radmfa.core.phone_flow", "radmfa.core.fraud"} <= names


@pytest.mark.parametrize("path", RINGS, ids=module_name)
def test_ring_module_loads_no_io_library(path: Path) -> None:
    module = module_name(path)
    assert io_among(loaded_by(module)) == [], f"importing {module} loads an I/O library"


def test_the_probe_sees_what_an_adapter_loads():
    """The check can fail: an adapter, imported the same way, is caught."""
    assert "asyncio" in io_among(loaded_by("radmfa.factors.phone"))


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_pure_helpers_import_no_io():
    offenders = {p.name: sorted(imported_roots(p) & FORBIDDEN_IMPORTS) for p in PURE_HELPERS}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_pure_modules_do_not_read_the_clock():
    for p in (*RINGS, *PURE_HELPERS):
        text = p.read_text()
        assert "datetime.now" not in text and "time.time(" not in text and "monotonic(" not in text, p.name

"""Ring 1 (radius/, core/session.py, core/policy.py, and the phone factors'
pure helpers) does no I/O (STYLE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "server" / "radmfa"
PURE = [
    *sorted((PKG / "radius").glob("*.py")),
    PKG / "core" / "session.py",
    PKG / "core" / "policy.py",
    PKG / "core" / "exemptions.py",
    PKG / "core" / "methods.py",  # the phone factors' menu and mode choice
    PKG / "factors" / "callbacks.py",  # callback tokens and code hashes
    PKG / "factors" / "voice.py",  # TwiML
    PKG / "service" / "fairness.py",  # per-client budgets and round robin
]
FORBIDDEN = {"asyncio", "socket", "sqlite3", "asyncpg", "aiohttp", "ldap3", "http", "urllib", "time", "subprocess"}


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_pure_modules_import_no_io():
    assert len(PURE) >= 6
    offenders = {p.name: sorted(imported_roots(p) & FORBIDDEN) for p in PURE}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_pure_modules_do_not_read_the_clock():
    for p in PURE:
        text = p.read_text()
        assert "datetime.now" not in text and "time.time(" not in text and "monotonic(" not in text, p.name

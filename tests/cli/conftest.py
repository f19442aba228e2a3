"""In-process `radmfa` runs against a real SQLite store in a temp directory."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from radmfa import config
from radmfa.cli.main import main
from radmfa.cli.runner import run_with_store
from radmfa.core.admin_ports import Store

T = TypeVar("T")

MINIMAL_CONFIG = """\
[store]
url = "sqlite:///radmfa.db"

[upstream]
type = "local"
"""


@dataclass(frozen=True, slots=True)
class Result:
    status: int
    out: str
    err: str


class Radmfa:
    """Runs ``main([...])`` with ``--config`` pointing at the temp config."""

    def __init__(self, config_path: Path, capsys: pytest.CaptureFixture[str],
                 monkeypatch: pytest.MonkeyPatch) -> None:
        self.config_path = config_path
        self._capsys = capsys
        self._monkeypatch = monkeypatch

    def __call__(self, *argv: str, stdin: str = "") -> Result:
        # A StringIO is not a TTY, so passwords and codes are read as lines.
        self._monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        self._capsys.readouterr()
        status = main([*argv, "--config", str(self.config_path)])
        captured = self._capsys.readouterr()
        return Result(status, captured.out, captured.err)

    def store(self, work: Callable[[Store], Awaitable[T]]) -> T:
        """Run ``work`` against the same store the commands use."""
        return run_with_store(config.load(self.config_path), work)


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "radmfa.toml"
    path.write_text(MINIMAL_CONFIG)
    return path


@pytest.fixture
def radmfa(config_path: Path, capsys: pytest.CaptureFixture[str],
           monkeypatch: pytest.MonkeyPatch) -> Radmfa:
    return Radmfa(config_path, capsys, monkeypatch)


def assert_one_line_error(result: Result, status: int = 1) -> str:
    """The failure contract: the status, one stderr line, no traceback."""
    assert result.status == status
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("radmfa: error: ")
    assert "Traceback" not in result.err
    return lines[0]

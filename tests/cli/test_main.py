from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest

from radmfa.cli.main import build_parser, main
from tests.cli.conftest import MINIMAL_CONFIG, Radmfa, Result, assert_one_line_error


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Result:
    status = main(list(argv))
    captured = capsys.readouterr()
    return Result(status, captured.out, captured.err)


def leaf_commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[
    tuple[tuple[str, ...], argparse.ArgumentParser]
]:
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subparsers:
        yield path, parser
    for action in subparsers:
        for name, child in action.choices.items():
            yield from leaf_commands(child, (*path, name))


def test_every_command_takes_config() -> None:
    leaves = dict(leaf_commands(build_parser()))
    assert {("user", "add"), ("token", "add"), ("report", "auth"), ("login",),
            ("serve",)} <= set(leaves)
    for path, parser in leaves.items():
        assert "--config" in parser._option_string_actions, " ".join(path)
        assert "func" in parser._defaults, " ".join(path)


def test_missing_config_file_is_one_line(capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path) -> None:
    result = run(capsys, "user", "list", "--config", str(tmp_path / "nope.toml"))
    line = assert_one_line_error(result)
    assert "nope.toml" in line and "cannot read config file" in line
    assert not (tmp_path / "radmfa.db").exists()


def test_invalid_config_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "radmfa.toml"
    path.write_text('[store]\nurl = "mysql://x"\n')
    line = assert_one_line_error(run(capsys, "user", "list", "--config", str(path)))
    assert "url" in line


def test_config_before_the_command(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "radmfa.toml"
    path.write_text(MINIMAL_CONFIG)
    assert run(capsys, "--config", str(path), "user", "add", "bob").status == 0
    assert "bob" in run(capsys, "--config", str(path), "user", "list").out


def test_radmfa_config_environment(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "elsewhere.toml"
    path.write_text(MINIMAL_CONFIG)
    monkeypatch.setenv("RADMFA_CONFIG", str(path))
    assert run(capsys, "user", "add", "carol").status == 0
    assert (tmp_path / "radmfa.db").exists()


@pytest.mark.parametrize(
    "argv",
    [
        (),
        ("user",),
        ("user", "add"),
        ("no-such-command",),
        ("token", "delete", "seven"),
        ("user", "list", "--format", "xml"),
    ],
)
def test_usage_errors_are_one_line(capsys: pytest.CaptureFixture[str],
                                   argv: tuple[str, ...]) -> None:
    assert_one_line_error(run(capsys, *argv), status=2)


def test_help_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, "token", "add", "--help")
    assert result.status == 0
    assert "--secret" in result.out and "--config" in result.out


def test_store_errors_are_one_line(radmfa: Radmfa, tmp_path: Path) -> None:
    radmfa("user", "add", "bob")
    (tmp_path / "radmfa.key").write_bytes(b"not a key")
    assert_one_line_error(radmfa("user", "list"))


def test_a_closed_pipe_is_not_a_traceback(tmp_path) -> None:
    """`radmfa report admin | head -1`: the reader leaves early; no traceback."""
    import subprocess
    import sys

    (tmp_path / "radmfa.toml").write_text(
        '[store]\nurl = "sqlite:///r.db"\nkey_file = "r.key"\n[radius]\nclients_file = "c.conf"\n'
    )
    script = (  # more rows than a pipe buffer holds, so the writer is still writing
        "import asyncio, pathlib\nfrom radmfa.core.model import NewUser\nfrom radmfa.store import open_store\n"
        "async def main():\n"
        "    s = await open_store('sqlite:///r.db', key_file=pathlib.Path('r.key'), base_dir=pathlib.Path('.'))\n"
        "    for i in range(3000):\n        await s.add_user(NewUser(f'user{i:05}', email=f'user{i}@example.org'))\n"
        "    await s.close()\n"
        "asyncio.run(main())\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=tmp_path, check=True, capture_output=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "radmfa", "user", "list"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    with proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.readline()
        proc.stdout.close()  # the reader leaves after one line
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=30) == 141
    assert "Traceback" not in err and "BrokenPipe" not in err

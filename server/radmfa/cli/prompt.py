"""Reading passwords and codes from a person, or from a pipe.

On a terminal, getpass (no echo). When stdin is not a terminal (a script
piping the password in), one line is read from stdin, so
``printf 'secret\\n' | radmfa user passwd bob`` works without a TTY.
"""

from __future__ import annotations

import getpass
import sys

from radmfa.errors import RadmfaError


def read_secret(prompt: str, *, what: str = "password") -> str:
    """One secret: getpass on a terminal, else one line of stdin. Empty is refused."""
    value = getpass.getpass(prompt) if sys.stdin.isatty() else _stdin_line(what)
    if not value:
        raise RadmfaError(f"no {what} given")
    return value


def read_new_password(prompt: str = "New password: ") -> str:
    """A new password, typed twice on a terminal; one line from a pipe."""
    value = read_secret(prompt)
    if sys.stdin.isatty() and getpass.getpass("Repeat it: ") != value:
        raise RadmfaError("the two passwords differ; nothing was changed")
    return value


def read_answer(prompt: str, *, what: str = "answer") -> str:
    """A visible answer such as a one-time code: input() on a terminal, else a stdin line."""
    value = input(prompt) if sys.stdin.isatty() else _stdin_line(what)
    return value.strip()


def _stdin_line(what: str) -> str:
    line = sys.stdin.readline()
    if not line:
        raise RadmfaError(f"no {what} given: stdin ended")
    return line.removesuffix("\n").removesuffix("\r")

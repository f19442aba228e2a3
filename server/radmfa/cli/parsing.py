"""The argument parser every radmfa command is built from.

Two rules hold for every command, including ones registered by modules that
never heard of them: it accepts ``--config PATH``, and a usage mistake is one
line on stderr with exit status 2, not argparse's usage dump.
"""

from __future__ import annotations

import argparse
from typing import NoReturn

from radmfa.core import policy
from radmfa.errors import RadmfaError


class CommandError(RadmfaError):
    """Reported like any RadmfaError (one line on stderr), with its own exit status."""

    def __init__(self, message: str, *, exit_status: int = 1) -> None:
        super().__init__(message)
        self.exit_status = exit_status


class UsageError(CommandError):
    """The command line itself is wrong (exit status 2)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_status=2)


class CliParser(argparse.ArgumentParser):
    """ArgumentParser that adds ``--config`` to itself and raises on usage errors.

    Sub-command parsers are created with the class of their parent, so every
    group and command made through ``add_subparsers`` gets both behaviours.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        # SUPPRESS: a --config given before the sub-command is not overwritten
        # by the sub-command's own default; main.py resolves the default.
        self.add_argument(
            "--config",
            metavar="PATH",
            default=argparse.SUPPRESS,
            help="radmfa.toml to use (default: $RADMFA_CONFIG or ./radmfa.toml)",
        )

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


def e164_number(text: str) -> str:
    """An argparse ``type``: a phone number as E.164 (``+1 415 555-0100`` →
    ``+14155550100``), the form the store keeps, or a usage error."""
    try:
        return policy.e164(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None

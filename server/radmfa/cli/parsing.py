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

# Exit statuses, the same for every command (README "Exit status";
# `radmfa --help` lists them too).
EXIT_OK = 0  # done (login: Access-Accept)
EXIT_REFUSED = 1  # refused or failed, the reason on stderr (login: Access-Reject)
EXIT_USAGE = 2  # wrong command line
EXIT_CONFIRM = 3  # needs confirmation; nothing was done
EXIT_NO_ANSWER = 4  # no answer (login: the server did not reply)


class CommandError(RadmfaError):
    """Reported like any RadmfaError (one line on stderr), with its own exit status."""

    def __init__(self, message: str, *, exit_status: int = EXIT_REFUSED) -> None:
        super().__init__(message)
        self.exit_status = exit_status


class UsageError(CommandError):
    """The command line itself is wrong (exit status 2)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_status=EXIT_USAGE)


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


def add_user_filter(p: argparse.ArgumentParser, what: str) -> None:
    """The optional user every list command takes: ``list [NAME]``, or
    ``--user NAME`` as the reports take it. Read it with ``user_filter``."""
    p.add_argument("name", metavar="NAME", nargs="?", help=f"only this user's {what} (default: everyone's)")
    p.add_argument("--user", metavar="NAME", help="the same as NAME")


def user_filter(args: argparse.Namespace) -> str | None:
    if args.name is not None and args.user is not None and args.name != args.user:
        raise UsageError(f"name the user once: NAME {args.name!r} or --user {args.user!r}")
    name: str | None = args.name if args.name is not None else args.user
    return name

"""`radmfa …`: parse the command line, load the config, run one command.

Each command group lives in its own module with ``register(subparsers)``;
a command sets ``func(args, cfg) -> int`` as its parser default. Whatever
goes wrong that radmfa can explain (any ``RadmfaError``) is one line on
stderr and a non-zero exit status: 2 for a wrong command line, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
from importlib.metadata import PackageNotFoundError, version

from radmfa import config
from radmfa.cli import (
    admins,
    apppass,
    bypass,
    devices,
    fraud,
    login,
    messages,
    portal,
    report,
    serve,
    session,
    settings,
    sync,
    tokens,
    users,
)
from radmfa.cli.parsing import EXIT_REFUSED, CliParser, CommandError
from radmfa.errors import RadmfaError

GROUPS = (
    users, tokens, bypass, apppass, devices, messages, report, fraud, login, serve, sync, portal, session, settings,
    admins,
)

EXIT_STATUS_HELP = """\
exit status:
  0    done (login: Access-Accept)
  1    refused or failed; the reason is one line on stderr (login: Access-Reject)
  2    wrong command line: unknown command or option, a value of the wrong form
  3    needs confirmation: nothing was done (sync: run again with --confirm-removals N)
  4    no answer (login: the server did not reply)
  130  interrupted; 141 the reader of the output went away"""


def _version() -> str:
    try:
        return version("radmfa")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def build_parser() -> CliParser:
    parser = CliParser(
        prog="radmfa",
        description="RADIUS second-factor proxy: server, users, tokens and reports.",
        epilog=EXIT_STATUS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"radmfa {_version()}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for group in GROUPS:
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        cfg = config.load(getattr(args, "config", None) or config.default_path())
        return int(args.func(args, cfg))
    except CommandError as e:
        return _fail(e, e.exit_status)
    except RadmfaError as e:
        return _fail(e, EXIT_REFUSED)
    except KeyboardInterrupt:
        print("radmfa: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `radmfa report auth | head`: the reader left; not an error worth a
        # traceback. stdout is pointed at /dev/null so the exit flush is quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as a shell reports it
    except SystemExit as e:  # --help exits through argparse
        if e.code is None or isinstance(e.code, int):
            return e.code or 0
        print(f"radmfa: error: {e.code}", file=sys.stderr)  # sys.exit("message")
        return EXIT_REFUSED


def _fail(error: Exception, status: int) -> int:
    # One line, even when a message quotes something with a newline in it.
    message = " ".join(str(error).split("\n"))
    print(f"radmfa: error: {message}", file=sys.stderr)
    return status

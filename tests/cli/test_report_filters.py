"""Report filters take the documented values only: a misspelt method, result,
status or phone number is a usage error (exit 2) that lists what is
accepted, never an empty report that looks like "nothing happened"."""

from __future__ import annotations

import pytest

from radmfa.core.model import AUDIT_METHODS
from tests.cli.conftest import Radmfa, assert_one_line_error
from tests.cli.test_report_usage import audited, ids  # noqa: F401  (audited is a fixture)


@pytest.mark.parametrize(
    ("argv", "choices"),
    [
        (("report", "auth", "--method", "bogus"), AUDIT_METHODS),
        (("report", "auth", "--method", "otp"), AUDIT_METHODS),
        (("report", "usage", "--method", "TOTP"), AUDIT_METHODS),
        (("report", "auth", "--result", "maybe"), ("accept", "reject", "challenge", "drop")),
        (("report", "bypass", "--status", "gone"), ("open", "used", "expired", "cancelled")),
        (("report", "fraud", "--status", "done"), ("new", "reviewed", "false-alarm")),
        (("fraud", "list", "--status", "done"), ("new", "reviewed", "false-alarm")),
        (("report", "usage", "--by", "week"), ("day", "client", "user")),
    ],
)
def test_an_unknown_choice_is_a_usage_error_listing_the_choices(
    radmfa: Radmfa, argv: tuple[str, ...], choices: tuple[str, ...]
) -> None:
    line = assert_one_line_error(radmfa(*argv), status=2)
    assert all(choice in line for choice in choices), line


@pytest.mark.parametrize(
    "argv",
    [
        ("report", "auth", "--phone", "555-0100"),
        ("report", "auth", "--phone", "+0123456789"),
        ("report", "fraud", "--phone", "alice"),
        ("fraud", "list", "--phone", "12"),
    ],
)
def test_a_phone_filter_must_be_an_e164_number(radmfa: Radmfa, argv: tuple[str, ...]) -> None:
    line = assert_one_line_error(radmfa(*argv), status=2)
    assert "--phone" in line and "E.164" in line, line


def test_a_phone_filter_is_normalised_like_the_stored_numbers(audited: Radmfa) -> None:  # noqa: F811
    assert ids(audited, "--phone", "+1 (415) 555-0111") == ["r3", "r9"]


def test_method_totp_finds_the_code_logins(audited: Radmfa) -> None:  # noqa: F811
    assert ids(audited, "--method", "totp") == ["r0", "r1", "r6", "r7", "r8"]

"""name_key: the canonical user-name key the store looks users up by."""

from __future__ import annotations

import unicodedata

import pytest

from radmfa.core import policy
from radmfa.core.policy import name_key


@pytest.mark.parametrize(
    "typed",
    [
        "alice",
        "ALICE",
        "Alice",
        "alice@corp.example",
        "ALICE@CORP.EXAMPLE",
        "CORP\\alice",
        "corp.example\\ALICE",
        "CORP\\alice@corp.example",
        "  alice  ",
        "\talice\n",
        "CORP\\ alice ",
        "alice @corp.example",
    ],
)
def test_spellings_of_one_user_share_a_key(typed: str) -> None:
    assert name_key(typed) == "alice"


def test_domain_is_everything_up_to_the_last_backslash() -> None:
    assert name_key("A\\B\\carol") == "carol"


def test_realm_is_everything_from_the_last_at() -> None:
    assert name_key("dave@sub@corp.example") == "dave@sub"


def test_domain_is_stripped_before_the_realm() -> None:
    # The realm is looked for only in what is left after the last backslash.
    assert name_key("user@x\\bob") == "bob"
    assert name_key("CORP\\bob@x") == "bob"


def test_case_folding_is_unicode_not_ascii() -> None:
    assert name_key("STRASSE") == name_key("Straße") == "strasse"
    assert name_key("ΣΊΣΥΦΟΣ") == name_key("σίσυφος")
    assert name_key("ÉMILE") == "émile"


def test_composed_and_decomposed_spellings_agree() -> None:
    composed = "jos\u00e9"
    decomposed = "jose\u0301"
    assert composed != decomposed
    assert name_key(composed) == name_key(decomposed) == name_key("JOSE\u0301")
    assert unicodedata.is_normalized("NFC", name_key(decomposed))


def test_distinct_users_keep_distinct_keys() -> None:
    assert name_key("alice") != name_key("alice2")
    assert name_key("al ice") == "al ice"  # only surrounding whitespace goes


@pytest.mark.parametrize("typed", ["", "   ", "CORP\\", "@corp.example", "CORP\\@corp"])
def test_nothing_left_is_the_empty_key(typed: str) -> None:
    assert name_key(typed) == ""


@pytest.mark.parametrize(
    ("text", "number"),
    [("+14155550100", "+14155550100"), ("+1 (415) 555-0100", "+14155550100"), ("+49 30/123.4567", "+49301234567")],
)
def test_e164_accepts_written_forms(text: str, number: str) -> None:
    assert policy.e164(text) == number


@pytest.mark.parametrize(
    "text", ["4155550100", "+0415555010", "+123456", "+1234567890123456", "+1415555O100", "+١٢٣٤٥٦٧٨"]
)
def test_e164_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="E.164"):
        policy.e164(text)

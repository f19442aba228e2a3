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


# -- name_problem / decode_name: which names a login may use -------------------------

REFUSED = [
    ("alice\x00", "U+0000, a control character"),
    ("alice\x00x", "U+0000"),
    ("alice\x00@corp.example", "U+0000"),
    ("alice\x7f", "U+007F, a control character"),
    ("alice\x85", "U+0085, a control character"),
    ("alice\t", "U+0009"),
    ("alice\u200b", "U+200B, an invisible format character"),
    ("al\u00adice", "U+00AD, an invisible format character"),
    ("\u202ealice", "U+202E"),
    ("alice\U000e0041", "U+E0041"),  # a tag character
    ("ali\u034fce", "U+034F, a character directories ignore"),
    ("alice\ufe0f", "U+FE0F, a character directories ignore"),
    ("alice\U000e0100", "U+E0100, a character directories ignore"),
    ("alice\u3164", "U+3164, a character directories ignore"),
    ("alice\ufffd", "U+FFFD, a character directories ignore"),
    ("alice\ue000", "U+E000, a private-use or unassigned"),
    ("alice\udcff", "U+DCFF, a lone surrogate"),  # what os.fsdecode makes of a non-UTF-8 argv byte
    ("alice\u00a0", "U+00A0, a space or line break other than the plain space"),
    ("alice\u2028", "U+2028, a space or line break"),
    ("alice\u3000", "U+3000, a space or line break"),
    ("alice\uff20corp", "U+FF20, a look-alike of @"),
    ("corp\ufe68alice", "U+FE68, a look-alike of @ or \\"),
    ("alice ", "starts or ends with a space"),
    (" alice", "starts or ends with a space"),
    ("CORP\\ alice", "starts or ends with a space"),
    ("alice @corp.example", "starts or ends with a space"),
    ("\u00a8alice", "starts or ends with a space"),  # NFKC: U+0020 U+0308
    ("al  ice", "two spaces in a row"),
    ("", "is empty"),
    ("CORP\\", "nothing left"),
    ("@corp.example", "nothing left"),
    ("a" * 254, "longer than 253 octets"),
    ("\u00e9" * 127, "longer than 253 octets"),  # 254 octets in UTF-8
]


@pytest.mark.parametrize(("name", "why"), REFUSED)
def test_names_an_upstream_could_read_as_another_are_refused(name: str, why: str) -> None:
    problem = policy.name_problem(name)
    assert problem is not None and why in problem
    assert policy.decode_name(name.encode("utf-8", "surrogatepass")) is None


ACCEPTED = [
    "alice", "ALICE", "Alice Liddell", "CORP\\alice", "alice@corp.example", "CORP\\alice@corp.example",
    "o'brien", "jos\u00e9", "jose\u0301", "Stra\u00dfe", "\uff41\uff4c\uff49\uff43\uff45", "\u212alvin",
    "\u5f20\u4f1f", "\u0645\u062d\u0645\u062f", "dave@sub@corp.example", "a" * 253, "\u00e9" * 126,
]


@pytest.mark.parametrize("name", ACCEPTED)
def test_ordinary_names_and_spellings_are_accepted(name: str) -> None:
    # Case, width, DOMAIN\ and @realm are canonicalised by name_key: at
    # worst they name the enrolled user, whose second factor is then asked.
    assert policy.name_problem(name) is None
    assert policy.decode_name(name.encode()) == name


@pytest.mark.parametrize(
    "raw",
    [
        None,
        b"alice\xff",
        b"alice\xc0\x80",  # overlong NUL
        b"\xc1\xa1lice",  # overlong "a"
        b"alice\xed\xa0\x80",  # an encoded surrogate (CESU-8)
        b"alice\xf4\x90\x80\x80",  # past U+10FFFF
        b"alice\xe2\x80",  # truncated sequence
    ],
)
def test_user_names_that_are_not_utf8_are_refused(raw: bytes | None) -> None:
    assert policy.decode_name(raw) is None


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (b"alice", "alice"),
        (b"CORP\\alice", "CORP\\alice"),
        (b"alice\x00", "alice\\x00"),
        (b"\x1b[31malice", "\\x1b[31malice"),
        ("al\u200bice".encode(), "al\\u200bice"),
        (b"alice\xff", "alice\\xff"),
        ("jos\u00e9".encode(), "jos\u00e9"),
        (None, ""),
    ],
)
def test_printable_escapes_what_a_log_or_database_should_not_hold(raw: bytes | None, shown: str) -> None:
    assert policy.printable(raw) == shown
    assert shown.isprintable()


def test_printable_ascii_names_skip_no_refused_character() -> None:
    # name_problem checks names of printable ASCII without looking at each
    # character: that is only right while none of them is refused.
    from radmfa.core.policy import _refused_character

    assert [c for c in map(chr, range(0x20, 0x7F)) if _refused_character(c)] == []
    for c in map(chr, [*range(0x00, 0x20), 0x7F]):
        problem = policy.name_problem(f"al{c}ice")
        assert problem is not None and "control character" in problem


def _part_by_the_full_rule(name: str) -> str:
    """name_key as its docstring states it, before the strip, without the ASCII shortcut."""
    name = unicodedata.normalize("NFKC", name).rpartition("\\")[2]
    head, at, _ = name.rpartition("@")
    return unicodedata.normalize("NFKC", (head if at else name).casefold())


def test_ascii_names_are_keyed_as_by_the_full_rule():
    # every ASCII character alone and beside every other, with the cut characters around
    chars = [chr(c) for c in range(128)]
    for a in chars:
        for b in chars:
            for name in (a + b, f"D\\{a}{b}x@R", f"{a}@{b}", f"X{a}\\{b}Y"):
                assert policy._user_part(name) == _part_by_the_full_rule(name), repr(name)
                assert policy.name_key(name) == _part_by_the_full_rule(name).strip(), repr(name)


def test_ascii_and_unicode_names_share_the_two_spaces_rule():
    assert policy.name_problem("al  ice") == "has two spaces in a row"
    assert policy.name_problem("al\u3000 ice") is not None  # NFKC makes the ideographic space a plain one

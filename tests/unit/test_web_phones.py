"""Phone numbers as typed in the portal → E.164."""

from __future__ import annotations

import pytest

from radmfa.web import phones


@pytest.mark.parametrize(
    ("country", "typed", "e164"),
    [
        ("US", "(415) 555-0123", "+14155550123"),
        ("US", "1 415 555 0123", "+14155550123"),
        ("DE", "0151 2345 6789", "+4915123456789"),
        ("GB", "07700 900123", "+447700900123"),
        ("IT", "06 1234 5678", "+390612345678"),  # the zero stays in Italy
        ("FR", "+33 6 12 34 56 78", "+33612345678"),  # international as typed, whatever the country
        ("CH", "0041 44 668 18 00", "+41446681800"),
    ],
)
def test_to_e164(country: str, typed: str, e164: str) -> None:
    assert phones.to_e164(country, typed) == e164


@pytest.mark.parametrize(
    ("country", "typed"), [("US", "555"), ("ZZ", "0151 234567"), ("DE", "0151-CALL-ME"), ("DE", "")]
)
def test_bad_numbers_are_refused(country: str, typed: str) -> None:
    with pytest.raises(ValueError):
        phones.to_e164(country, typed)


def test_country_names_follow_the_language() -> None:
    german = dict((code, name) for code, name, _ in phones.countries("de"))
    assert german["DE"] == "Deutschland" and german["CH"] == "Schweiz"
    assert ("US", "United States", "+1") in phones.countries("en")


def test_shown() -> None:
    assert phones.shown("+4915123456789") == "+49 15123456789"
    assert phones.shown("+14155550123") == "+1 4155550123"
    assert phones.shown("+35312345678") == "+353 12345678"

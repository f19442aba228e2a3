"""Languages: gettext catalogs, and which one a request gets.

The catalogs are the .po files in locale/ (English is the source text, so
it needs none). They are compiled in memory when a portal starts (Babel's
reader and .mo writer): there is no generated file to forget to rebuild or
to ship, and a corrected translation takes effect at the next restart.
``radmfa`` tests check that every catalog translates every message the
templates and code use (tests/unit/test_web_i18n.py).
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Iterable, Mapping
from importlib import resources

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

DEFAULT = "en"
LANGUAGES: Mapping[str, str] = {"en": "English", "de": "Deutsch"}  # code → the language's own name
DOMAIN = "messages"


def load_catalogs() -> dict[str, gettext.NullTranslations]:
    """One translations object per language in LANGUAGES."""
    out: dict[str, gettext.NullTranslations] = {DEFAULT: gettext.NullTranslations()}
    folder = resources.files("radmfa.web").joinpath("locale")
    for code in LANGUAGES:
        if code == DEFAULT:
            continue
        source = folder.joinpath(code, "LC_MESSAGES", f"{DOMAIN}.po").read_bytes()
        catalog = read_po(io.BytesIO(source), locale=code)
        compiled = io.BytesIO()
        write_mo(compiled, catalog)
        compiled.seek(0)
        out[code] = gettext.GNUTranslations(compiled)
    return out


def parse_accept_language(header: str) -> list[str]:
    """RFC 9110 §12.5.4: the tags of Accept-Language, best first (q=0 dropped)."""
    weighted: list[tuple[float, int, str]] = []
    for i, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if tag and tag != "*" and q > 0:
            weighted.append((-q, i, tag.strip().lower()))
    return [tag for _, _, tag in sorted(weighted)]


def choose(*preferences: str | None, accept_language: str = "") -> str:
    """The first of ``preferences`` (an explicit choice, the user's
    ``language``), then Accept-Language, that we have, by primary subtag
    (de-CH → de); else English."""
    for tag in [*preferences, *parse_accept_language(accept_language)]:
        found = match(tag)
        if found is not None:
            return found
    return DEFAULT


def match(tag: str | None, available: Iterable[str] = LANGUAGES) -> str | None:
    if not tag:
        return None
    primary = tag.replace("_", "-").split("-")[0].lower()
    return primary if primary in available else None


def N_(message: str) -> str:  # noqa: N802 (the gettext convention for "translate later")
    """Marks ``message`` for the catalogs; templates translate it when shown."""
    return message

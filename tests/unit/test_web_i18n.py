"""The portal's catalogs: every text the templates and code use is in the
template (.pot), and every language translates all of it with the same
placeholders."""

from __future__ import annotations

import re
from importlib import resources

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from radmfa.web import i18n

_FOLDER = resources.files("radmfa.web")
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _catalog(*parts: str):  # noqa: ANN202
    with _FOLDER.joinpath(*parts).open("rb") as f:
        return read_po(f)


def test_template_holds_every_text_in_use() -> None:
    used = {
        message[2] if isinstance(message[2], str) else message[2][0]
        for message in extract_from_dir(
            str(_FOLDER),
            method_map=[("**/templates/**.html", "jinja2"), ("**.py", "python")],
            options_map={"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}},
            keywords={"_": None, "gettext": None, "N_": None, "translate": (2,)},
        )
    }
    known = {m.id for m in _catalog("locale", "messages.pot") if m.id}
    assert used - known == set(), "run `pybabel extract` (docs/operator-guide.md, Translating the portal)"


def test_every_language_is_complete() -> None:
    known = {m.id for m in _catalog("locale", "messages.pot") if m.id}
    for code in i18n.LANGUAGES:
        if code == i18n.DEFAULT:
            continue
        catalog = _catalog("locale", code, "LC_MESSAGES", "messages.po")
        translated = {m.id: m.string for m in catalog if m.id and m.string and not m.fuzzy}
        assert known - set(translated) == set(), f"{code}: untranslated"
        for msgid, text in translated.items():
            assert set(_PLACEHOLDER.findall(str(msgid))) == set(_PLACEHOLDER.findall(str(text))), (code, msgid)


def test_catalogs_compile_and_translate() -> None:
    catalogs = i18n.load_catalogs()
    assert catalogs["de"].gettext("Sign in") == "Anmelden"
    assert catalogs["en"].gettext("Sign in") == "Sign in"


def test_language_choice() -> None:
    assert i18n.parse_accept_language("fr-CH, fr;q=0.9, de;q=0.8, *;q=0.5") == ["fr-ch", "fr", "de"]
    assert i18n.parse_accept_language("de;q=0, en") == ["en"]
    assert i18n.choose(accept_language="fr-CH, de-AT;q=0.8") == "de"
    assert i18n.choose(None, "de-CH", accept_language="en") == "de"  # the user's own language first
    assert i18n.choose("en", "de", accept_language="de") == "en"  # an explicit choice first
    assert i18n.choose(accept_language="zh, q=x;;") == "en"

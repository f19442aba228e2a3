"""Jinja2 templates: autoescaped HTML, one environment per language.

Every value a template prints is escaped (autoescape on for everything,
StrictUndefined so a typo fails a test instead of printing nothing). Each
language has its own environment with its catalog installed ("newstyle"
gettext: ``{{ _("Hello %(name)s", name=user) }}`` escapes the values too).
"""

from __future__ import annotations

import gettext
from collections.abc import Mapping, Sequence
from typing import Any

import jinja2


class Renderer:
    def __init__(self, packages: Sequence[str], catalogs: Mapping[str, gettext.NullTranslations]) -> None:
        """``packages``: where templates are looked up, first match wins
        (a portal's own package, then radmfa.web's shared ones)."""
        loader = jinja2.ChoiceLoader([jinja2.PackageLoader(p, "templates") for p in packages])
        self._envs: dict[str, jinja2.Environment] = {}
        self._catalogs = dict(catalogs)
        for language, translations in catalogs.items():
            env = jinja2.Environment(
                loader=loader,
                autoescape=True,
                undefined=jinja2.StrictUndefined,
                extensions=["jinja2.ext.i18n"],
                trim_blocks=True,
                lstrip_blocks=True,
            )
            env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
            self._envs[language] = env

    def languages(self) -> list[str]:
        return list(self._envs)

    def render(self, name: str, language: str, context: Mapping[str, Any]) -> str:
        env = self._envs.get(language) or next(iter(self._envs.values()))
        return env.get_template(name).render(context)

    def translate(self, language: str, message: str, **values: str) -> str:
        """``message`` in ``language`` with ``%(name)s`` filled, for texts
        made outside templates (notifications sent by text or e-mail)."""
        catalog = self._catalogs.get(language) or gettext.NullTranslations()
        text = catalog.gettext(message)
        return text % values if values else text

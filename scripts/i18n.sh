#!/usr/bin/env bash
# Refresh the portal's gettext catalogs after a text changed: extract every
# message from the templates and code into server/radmfa/web/locale/messages.pot,
# then merge it into each language's .po (new messages arrive untranslated;
# tests/unit/test_web_i18n.py fails until they are translated).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WEB="$ROOT/server/radmfa/web"
PYBABEL="$ROOT/.venv/bin/pybabel"
"$PYBABEL" extract -F "$WEB/babel.cfg" -k N_ -k translate:2 --no-location --omit-header --sort-output \
    -o "$WEB/locale/messages.pot" "$WEB"
"$PYBABEL" update -i "$WEB/locale/messages.pot" -d "$WEB/locale" -D messages --no-fuzzy-matching \
    --ignore-obsolete

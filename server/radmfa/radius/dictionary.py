"""Load the FreeRADIUS-format ``dictionary`` with pyrad, and name attributes.

pyrad reads the v3 dictionary format (checklist §12.2) but silently ignores
lines whose keyword it does not know, so a typo such as ``ATRIBUTE`` would
drop an attribute without a word. We check the keywords first and turn every
pyrad parse error into a ``ConfigError`` that names the file and line.
"""

from __future__ import annotations

import os

from pyrad.dictfile import DictFile
from pyrad.dictionary import Dictionary, ParseError

from radmfa.errors import ConfigError

__all__ = ["attribute_code", "attribute_name", "load_dictionary"]

# Keywords pyrad acts on; $INCLUDE and $INCLUDE- are handled by DictFile.
_KEYWORDS = frozenset({"ATTRIBUTE", "VALUE", "VENDOR", "BEGIN-VENDOR", "END-VENDOR"})
# FreeRADIUS v3 keywords pyrad ignores, accepted so FreeRADIUS's own
# dictionaries still load (man/man5/dictionary.5).
_IGNORED_KEYWORDS = frozenset({"BEGIN-TLV", "END-TLV", "VALUE-ALIAS"})

VENDOR_SPECIFIC = 26  # RFC 2865 §5.26


def load_dictionary(path: str | os.PathLike[str]) -> Dictionary:
    """Read a dictionary file (and its $INCLUDEs) into a pyrad Dictionary.

    Raises ConfigError naming the file and line of the first problem.
    """
    name = os.fspath(path)
    try:
        _check_keywords(name)
        return Dictionary(name)
    except ParseError as exc:
        raise ConfigError(_describe(exc, name)) from None
    except OSError as exc:
        raise ConfigError(
            f"cannot read dictionary {exc.filename or name}: {exc.strerror or exc}"
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"dictionary {name} is not UTF-8 text: {exc.reason}") from None


def attribute_name(
    d: Dictionary, type_code: int, vendor: int | None = None, subtype: int | None = None
) -> str:
    """The attribute's dictionary name, or FreeRADIUS's ``Attr-…`` spelling.

    Standard attributes: ``attribute_name(d, 1) == "User-Name"``. Vendor
    attributes: ``attribute_name(d, 26, 311, 16) == "MS-MPPE-Send-Key"``;
    unknown ones come back as ``"Attr-26.311.16"``.
    """
    if vendor is None:
        key: int | tuple[int, int] = type_code
        fallback = f"Attr-{type_code}"
    elif subtype is None:
        return f"Attr-{type_code}.{vendor}"
    else:
        key = (vendor, subtype)
        fallback = f"Attr-{type_code}.{vendor}.{subtype}"
    if d.attrindex.HasBackward(key):
        return str(d.attrindex.GetBackward(key))
    return fallback


def attribute_code(d: Dictionary, name: str) -> tuple[int, int | None]:
    """``(type, vendor)`` of a named attribute; vendor is None for standard ones.

    For a vendor attribute the type is its number inside Vendor-Specific:
    ``attribute_code(d, "MS-MPPE-Send-Key") == (16, 311)``.
    Raises KeyError for a name the dictionary does not define.
    """
    attr = d.attributes[name]
    if not attr.vendor:
        return int(attr.code), None
    return int(attr.code), int(d.vendors.GetForward(attr.vendor))


def _check_keywords(name: str) -> None:
    lines = DictFile(name)
    for line in lines:
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        keyword = words[0].upper()
        if keyword not in _KEYWORDS and keyword not in _IGNORED_KEYWORDS:
            raise ConfigError(
                f"{lines.File()} line {lines.Line()}: unknown keyword {words[0]!r}; "
                "expected ATTRIBUTE, VALUE, VENDOR, BEGIN-VENDOR, END-VENDOR or $INCLUDE"
            )


def _describe(exc: ParseError, name: str) -> str:
    where = exc.file or os.path.basename(name)
    if exc.line is not None and exc.line > -1:
        where = f"{where} line {exc.line}"
    message = str(exc.msg or "parse error")
    return f"{where}: {message[:1].lower()}{message[1:]}"

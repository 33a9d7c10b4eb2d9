"""Languages: gettext catalogs compiled by Babel, chosen per request, dates per locale.

English is the source language (the msgids); ``translations/<lang>/LC_MESSAGES``
holds the .po files and their compiled .mo files (committed, so a fresh machine
needs no build step; a test checks they match).

The language of a request (``web/language.py``'s ``choose``): the participant's own
choice (a cookie set by the switcher on every page), else the event's language (set
by the organiser), else the browser's Accept-Language on pages outside an event,
else English. It lives
in a context variable for the request's task, so every template rendered for that
request (page, fragment, error, toast) speaks it without being told.

``python -m facilitation.i18n`` re-extracts the strings of the templates and the
Python code and updates the catalogs and their compiled files.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime
from functools import cache
from gettext import NullTranslations
from typing import Any

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_decimal
from babel.support import Translations

from facilitation.assets import PACKAGE, TRANSLATIONS

# Endonyms: each language is offered in its own words.
LANGUAGES: dict[str, str] = {"en": "English", "nb": "Norsk bokmål", "fr": "Français"}
DEFAULT = "en"
COOKIE = "facilitation_lang"
DOMAIN = "messages"


_current: ContextVar[str | None] = ContextVar("facilitation_language", default=None)


def N_(message: str) -> str:  # noqa: N802 - the conventional gettext marker
    """Mark a string for extraction where it is defined; translated where it is shown."""
    return message


@cache
def catalog(lang: str) -> NullTranslations:
    if lang == DEFAULT:
        return NullTranslations()
    return Translations.load(str(TRANSLATIONS), [lang], DOMAIN)


def valid(lang: object) -> str | None:
    return lang if isinstance(lang, str) and lang in LANGUAGES else None


def current() -> str:
    return _current.get() or DEFAULT


def chosen() -> bool:
    """Whether this request has settled its language already."""
    return _current.get() is not None


def use(lang: str) -> None:
    """Speak ``lang`` for the rest of this request (this task)."""
    _current.set(valid(lang) or DEFAULT)


@contextmanager
def using(lang: str) -> Iterator[None]:
    token = _current.set(valid(lang) or DEFAULT)
    try:
        yield
    finally:
        _current.reset(token)


def from_accept_language(header: str) -> str:
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        base = tag.strip().lower().split("-")[0]
        # Norwegian without a script (no, nn) reads Bokmål far better than English.
        base = "nb" if base in ("no", "nn") else base
        if base in LANGUAGES:
            ranked.append((-quality, position, base))
    return sorted(ranked)[0][2] if ranked else DEFAULT


def gettext(message: str) -> str:
    return catalog(current()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return catalog(current()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    return catalog(current()).pgettext(context, message)


def npgettext(context: str, singular: str, plural: str, n: int) -> str:
    return catalog(current()).npgettext(context, singular, plural, n)


def locale() -> Locale:
    return Locale.parse(current())


def fmt_date(value: str | date | None, style: str = "medium") -> str:
    """An ISO date for people: 'Mar 1, 2026', '1. mars 2026', '1 mars 2026'."""
    if not value:
        return ""
    try:
        day = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    except ValueError:
        return str(value)
    return format_date(day, style, locale=locale())


def fmt_number(value: float) -> str:
    return format_decimal(value, locale=locale())


# -- extraction and catalogs -------------------------------------------------------------

# Besides _() and N_(), the first argument of these error constructors (the web layer's
# and the domain's) is a message a person may read on a page, so it is extracted too.
ERROR_CALLS = (
    "BadRequest", "Unauthorized", "Forbidden", "NotFound", "MethodNotAllowed", "Conflict",
    "PayloadTooLarge", "Unprocessable", "Locked", "TooManyRequests", "ServiceUnavailable",
    "HTTPError", "StaleVersion", "Refused", "Unavailable",
)


STAMP = datetime(2026, 1, 1, tzinfo=UTC)


def extract() -> Any:
    """Every translatable string of the templates and the Python code, as a Babel catalog."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir

    root = TRANSLATIONS.parent
    keywords: dict[str, Any] = dict(DEFAULT_KEYWORDS)
    keywords.update({"N_": None, **{name: None for name in ERROR_CALLS}})
    # A fixed date: the files change only when their messages do.
    found = Catalog(project="facilitation", domain=DOMAIN, charset="utf-8", version="1",
                    creation_date=STAMP, revision_date=STAMP, fuzzy=False,
                    copyright_holder="the facilitation authors")
    sources = [
        (root / "templates", [("**.html", "jinja2")],
         {"**.html": {"extensions": "jinja2.ext.i18n", "trimmed": "true"}}),
        (PACKAGE, [("**.py", "python")], {}),
    ]
    for folder, method_map, options in sources:
        for filename, lineno, message, comments, context in extract_from_dir(
            str(folder), method_map, options, keywords, strip_comment_tags=True,
        ):
            found.add(message, None, [(f"{folder.name}/{filename}", lineno)],
                      auto_comments=comments, context=context)
    return found


def update() -> None:
    """Write messages.pot, merge it into each language's .po, and compile the .mo files."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po, write_po

    template = extract()
    with open(TRANSLATIONS / "messages.pot", "wb") as out:
        write_po(out, template, omit_header=False, sort_output=True, width=100,
                 include_lineno=False)
    for lang in LANGUAGES:
        if lang == DEFAULT:
            continue
        po_path = TRANSLATIONS / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
        po_path.parent.mkdir(parents=True, exist_ok=True)
        if po_path.exists():
            with open(po_path, "rb") as f:
                translated = read_po(f, locale=lang)
        else:
            from babel.messages.catalog import Catalog

            translated = Catalog(locale=lang, domain=DOMAIN, project="facilitation")
        translated.update(template, no_fuzzy_matching=True)
        translated.fuzzy = False
        translated.creation_date = translated.revision_date = STAMP
        with open(po_path, "wb") as out:
            write_po(out, translated, sort_output=True, width=100, include_lineno=False,
                     ignore_obsolete=True)
        with open(po_path.with_suffix(".mo"), "wb") as out:
            write_mo(out, translated)
        missing = [m.id for m in translated if m.id and not m.string]
        print(f"{lang}: {len(missing)} untranslated", file=sys.stderr)


if __name__ == "__main__":
    update()

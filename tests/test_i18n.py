"""Languages: catalogs complete and compiled, the language chosen per person, dates per locale."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from facilitation import i18n
from tests.conftest import SIX_ROOMS, Server, new_event
from tests.test_room_page import join, room_path

# The participant's pages: every string on them must be translated to Norwegian (nb) and French (fr).
PARTICIPANT_SOURCES = (
    "templates/base.html", "templates/join.html", "templates/room.html",
    "templates/edit_page.html", "templates/error.html", "templates/partials/",
    "facilitation/web/pages.py", "facilitation/web/errors.py", "facilitation/app.py",
    "facilitation/domain.py", "facilitation/access.py", "facilitation/web/language.py",
)


def catalog(lang: str) -> Any:
    with open(i18n.TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po", "rb") as f:
        return read_po(f, locale=lang)


LANGUAGE_NAMES = {"nb": "Norwegian", "fr": "French"}


@pytest.mark.parametrize("lang", ["nb", "fr"])
def test_every_participant_string_is_translated(lang: str) -> None:
    extracted = i18n.extract()
    translated = catalog(lang)
    wanted = {
        m.id for m in extracted
        if m.id and any(loc.startswith(PARTICIPANT_SOURCES) for loc, _ in m.locations)
    }
    assert len(wanted) > 80
    missing = sorted(m for m in wanted if not (translated.get(m) and translated.get(m).string))
    assert not missing, (
        f"untranslated in translations/{lang}: run `python -m facilitation.i18n`, then translate:\n"
        + "\n".join(missing))
    fuzzy = sorted(m.id for m in translated if m.id and m.fuzzy)
    assert not fuzzy, f"fuzzy (unchecked) {LANGUAGE_NAMES[lang]} translations: {fuzzy}"


def test_compiled_catalogs_match_their_sources() -> None:
    """The committed .mo files are what `python -m facilitation.i18n` compiles from the .po."""
    for lang in ("nb", "fr"):
        po = {m.id: m.string for m in catalog(lang) if m.id and m.string and not m.fuzzy}
        mo_path = Path(i18n.TRANSLATIONS / lang / "LC_MESSAGES" / "messages.mo")
        with open(mo_path, "rb") as f:
            mo = {m.id: m.string for m in read_mo(f) if m.id}
        assert mo == po, f"{mo_path} is stale: run `python -m facilitation.i18n`"


def test_placeholders_survive_translation() -> None:
    for lang in ("nb", "fr"):
        for m in catalog(lang):
            if m.id and m.string:
                for placeholder in ("{n}", "{status}", "%("):
                    assert (placeholder in m.id) == (placeholder in m.string), (lang, m.id)


def test_language_choice_order() -> None:
    assert i18n.from_accept_language("nb-NO,nb;q=0.9,en;q=0.5") == "nb"
    assert i18n.from_accept_language("no") == "nb"
    assert i18n.from_accept_language("de-DE,fr;q=0.4,en;q=0.3") == "fr"
    assert i18n.from_accept_language("de, zh") == "en"
    assert i18n.from_accept_language("en;q=bad, nb;q=0.1") == "nb"


def test_dates_and_numbers_follow_the_language() -> None:
    expected = {"en": "Mar 1, 2026", "nb": "1. mars 2026", "fr": "1 mars 2026"}
    for lang, text in expected.items():
        with i18n.using(lang):
            assert i18n.fmt_date("2026-03-01") == text
    with i18n.using("nb"):
        assert i18n.fmt_number(1234.5) == "1\xa0234,5"
        assert i18n.fmt_date("not a date") == "not a date"
        assert i18n.fmt_date(None) == ""


async def test_event_language_is_the_default_and_each_person_can_switch(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as admin:
        event = await new_event(admin, {**SIX_ROOMS, "language": "nb"})
    room = event["rooms"][0]
    browser = await join(server, room)
    base = room_path(event, room)
    page = await browser.get(base)
    assert '<html lang="nb">' in page.text and "Tiltak" in page.text
    assert "Action items" not in page.text
    # The switcher links back to this page, in another language, for this browser only.
    switched = await browser.get(f"/lang/en?next={base}")
    assert switched.status_code == 303 and switched.headers["location"] == base
    assert "httponly" in switched.headers["set-cookie"].lower()
    page = await browser.get(base)
    assert '<html lang="en">' in page.text and "Action items" in page.text
    other = await join(server, room, name="Ola")
    assert "Tiltak" in (await other.get(base)).text
    # Only paths on this site are followed; an unknown language is a friendly 404.
    for evil in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        away = await browser.get("/lang/nb", params={"next": evil})
        assert away.headers["location"] == "/"
    assert (await browser.get("/lang/xx")).status_code == 404
    await browser.aclose()
    await other.aclose()


async def test_due_dates_are_shown_in_the_pages_language(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as admin:
        event = await new_event(admin, {**SIX_ROOMS, "language": "nb"})
    room = event["rooms"][1]
    browser = await join(server, room)
    base = room_path(event, room)
    await browser.post(f"{base}/items", data={"id": str(uuid.uuid4()), "text": "Øvelse",
                                              "due": "2026-03-01"})
    page = await browser.get(base)
    assert '<time datetime="2026-03-01">1. mars 2026</time>' in page.text
    await browser.aclose()


async def test_unknown_pages_speak_the_browsers_language(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        page = await http.get("/no/such/page", headers={"accept-language": "nb-NO,nb;q=0.9"})
    assert page.status_code == 404 and "Ingenting her" in page.text

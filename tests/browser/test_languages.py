"""Norwegian in the browser: no English string left on a participant's pages."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from babel.messages.pofile import read_po
from playwright.async_api import Page, expect

from facilitation import i18n
from tests.browser.conftest import PHONE, Problems, assert_accessible, shot
from tests.browser.helpers import act, add_item, add_role, entry, join_room
from tests.conftest import SIX_ROOMS, Server, new_event

pytestmark = pytest.mark.browser

NORWEGIAN_EVENT = {
    "title": "Sikkerhet og beredskap",
    "rooms": [{"name": "Rom 1", "prompt": "Hvem gjør hva når krisen kommer?"},
              {"name": "Rom 2", "prompt": "Hvordan øver vi sammen?"}],
    "goals": ["Felles situasjonsbilde", "Tydelige roller"],
    "language": "nb",
}


def english_words() -> list[tuple[str, re.Pattern[str]]]:
    """Every English UI string whose Norwegian differs, as a whole-word pattern."""
    with open(i18n.TRANSLATIONS / "nb" / "LC_MESSAGES" / "messages.po", "rb") as f:
        nb = read_po(f, locale="nb")
    patterns = [(m.id, re.compile(r"(?<!\w)" + re.escape(m.id) + r"(?!\w)"))
                for m in nb if m.id and m.string and m.string != m.id]
    # Words both languages use ("for", "Start") are no sign of English.
    norwegian = "\n".join(m.string for m in nb if m.id and m.string)
    return [(msgid, pattern) for msgid, pattern in patterns if not pattern.search(norwegian)]


async def everything_a_person_meets(page: Page) -> str:
    """The page's text and every attribute that is read out or shown (and app.js's words)."""
    text: str = await page.evaluate(
        """() => {
            const shown = /^(aria-label|title|alt|placeholder|hx-confirm)$/;
            const internal = /^data-(upsert|status|version|seq|state|reload|locked)$/;
            const parts = [document.title, document.body.innerText];
            for (const el of document.querySelectorAll("*")) {
                for (const attr of el.attributes) {
                    const words = attr.name.startsWith("data-") && !internal.test(attr.name);
                    if (shown.test(attr.name) || words)
                        parts.push(attr.value);
                }
                if (el.matches("input[type=submit], input[type=button]")) parts.push(el.value);
            }
            return parts.join("\\n");
        }"""
    )
    return text


def assert_no_english(text: str, where: str) -> None:
    found = [f"{msgid!r} in …{text[max(0, m.start() - 40):m.end() + 40]!r}…"
             for msgid, pattern in english_words() if (m := pattern.search(text))]
    assert not found, f"English on the Norwegian {where}: {found}"


async def test_norwegian_participant_pages_have_no_english(
    server: Server, client: httpx.AsyncClient, new_context: Any, problems: Problems
) -> None:
    problems.allow(r"^http 404: GET \S+/items/0{8}-0{4}-0{4}-0{4}-0{12}/edit$",
                   "the not-found answer is checked in Norwegian too")
    event = await new_event(client, NORWEGIAN_EVENT)
    room = event["rooms"][0]
    context = await new_context()
    page = await context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    await page.goto(room["join_url"])
    assert await page.get_attribute("html", "lang") == "nb"
    assert_no_english(await everything_a_person_meets(page), "join page")
    await page.locator("#name").fill("Kari Nordmann")
    await page.locator("form[action$='/name'] button[type=submit]").click()
    await expect(page.locator("#sync")).to_have_attribute("data-state", "live")
    assert_no_english(await everything_a_person_meets(page), "empty room")

    await add_item(page, "Lage en felles kontaktliste", owner="Bergen Havn", due="2026-03-01")
    await expect(entry(page, "item", "felles kontaktliste")).to_contain_text("1. mars 2026")
    await add_role(page, "Fylkeskommunen", "Koordinator", "Kaller inn beredskapsforumet")
    await act(entry(page, "item", "felles kontaktliste"), "button", "Marker som enige")
    await expect(page.locator(".toast").last).to_contain_text("Markert som enige")
    await act(entry(page, "role", "Fylkeskommunen"), "link", "Rediger")
    await expect(page.locator(".edit-form")).to_be_visible()
    assert_no_english(await everything_a_person_meets(page), "room with entries")
    await assert_accessible(page)
    await shot(page, "room-nb-laptop")
    await page.set_viewport_size(PHONE)
    await shot(page, "room-nb-phone")

    # Plenary time: voting, the moderator's countdown and message, all in Norwegian.
    organiser = {"Authorization": f"Bearer {event['organiser_token']}"}
    base = f"/api/events/{event['id']}"
    await client.patch(f"{base}/plenary", json={"voting": True}, headers=organiser)
    await client.put(f"{base}/timer", json={"seconds": 300, "label": "Rom 1 legger fram"},
                     headers=organiser)
    await client.put(f"{base}/message", json={"text": "Avslutt nå"}, headers=organiser)
    await expect(page.locator("#votes-panel")).to_be_visible()
    await expect(page.locator("#broadcast .timer")).to_be_visible()
    assert_no_english(await everything_a_person_meets(page), "room during plenary")
    await shot(page, "room-nb-voting-phone")

    # A locked room, and an error page, in Norwegian too.
    await client.post(f"/api/events/{event['id']}/rooms/{room['id']}/lock",
                      headers={"Authorization": f"Bearer {event['organiser_token']}"})
    await expect(page.locator("#room-state .banner")).to_be_visible()
    assert_no_english(await everything_a_person_meets(page), "locked room")
    await page.goto(f"/e/{event['id']}/r/{room['id']}/items/00000000-0000-0000-0000-000000000000/edit")
    assert_no_english(await everything_a_person_meets(page), "error page")


async def test_a_participant_switches_language_for_themselves(
    server: Server, client: httpx.AsyncClient, new_context: Any
) -> None:
    event = await new_event(client, SIX_ROOMS)
    room = event["rooms"][5]
    mine = await join_room(await new_context(), room, "Kari Nordmann")
    theirs = await join_room(await new_context(), room, "John Smith")
    await expect(mine.get_by_role("heading", name="Action items")).to_be_visible()
    await mine.get_by_role("navigation", name="Language").get_by_role(
        "link", name="Norsk bokmål").click()
    await expect(mine.get_by_role("heading", name="Tiltak")).to_be_visible()
    assert await mine.get_attribute("html", "lang") == "nb"
    await expect(mine.locator("#sync")).to_have_attribute("data-state", "live")
    await expect(mine.locator("#sync")).to_contain_text("Tilkoblet")
    # Live changes arrive in each person's own language.
    await add_item(theirs, "Joint exercise", due="2026-05-17")
    mine_item = entry(mine, "item", "Joint exercise")
    await expect(mine_item).to_contain_text("17. mai 2026")
    await expect(mine_item).to_contain_text("Foreslått")
    await expect(entry(theirs, "item", "Joint exercise")).to_contain_text("May 17, 2026")
    await mine.get_by_role("navigation", name="Språk").get_by_role("link", name="Français").click()
    await expect(mine.get_by_role("heading", name="Actions")).to_be_visible()
    await expect(entry(mine, "item", "Joint exercise")).to_contain_text("17 mai 2026")

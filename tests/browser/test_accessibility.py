"""WCAG 2.2 AA in the browser: axe on every page, reflow and 200 % text, keyboard on the
moderator page, and a live region that does not flood a screen reader."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import LAPTOP, PROJECTOR, Problems, assert_accessible, shot
from tests.browser.helpers import add_item, add_role, entry, join_room, tab_to
from tests.conftest import Server, auth, item_body, new_event

pytestmark = pytest.mark.browser

VIEWS = ("rooms", "spotlight", "goals", "roles", "priorities", "join", "followup")


async def no_sideways_scroll(page: Page, what: str) -> None:
    overflow = await page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1, f"{what} scrolls sideways by {overflow}px"


async def test_every_page_passes_axe(
    server: Server, client: httpx.AsyncClient, new_context: Any, problems: Problems
) -> None:
    problems.allow(r"^http 404: GET \S+/no/such/page$", "the not-found page is checked too")
    event = await new_event(client)
    room = event["rooms"][0]
    api = f"/api/events/{event['id']}/rooms/{room['id']}"
    item = item_body("Joint exercise with the port", owner="Port of Bergen", due="2026-03-01")
    await client.post(f"{api}/items", json=item, headers=auth(room["join_token"]))
    await client.post(f"{api}/items", json=item_body("Shared contact list"),
                      headers=auth(event["rooms"][1]["join_token"]))
    context = await new_context()
    page = await context.new_page()
    for path in ("/", "/new", "/no/such/page"):
        await page.goto(path)
        await assert_accessible(page)
    participant = await join_room(await new_context(), room, "Kari Nordmann")
    await assert_accessible(participant)
    # The edit form as its own page (without JavaScript it is a page of its own).
    await participant.goto(f"/e/{event['id']}/r/{room['id']}/items/{item['id']}/edit")
    await expect(participant.locator(".edit-form")).to_be_visible()
    await assert_accessible(participant)

    organiser = await (await new_context()).new_page()
    await organiser.goto(event["moderator_url"])
    await assert_accessible(organiser)
    projector = await (await new_context(viewport=PROJECTOR)).new_page()
    await projector.goto(event["moderator_url"])  # the moderator's laptop: join codes show
    await projector.goto(event["plenary_url"])
    for view in VIEWS:
        await organiser.locator(f"form.mod-views button[name=view][value={view}]").click()
        await expect(projector.locator(f"[data-view={view}], .view-{view}").first).to_be_attached()
        # Contrast (a serious violation) included: the projector view must hold it.
        await assert_accessible(projector)
    report = await organiser.context.new_page()
    await report.goto(f"/api/events/{event['id']}/outcomes.html")
    await assert_accessible(report)


async def test_pages_reflow_at_320px_and_at_200_percent_text(
    server: Server, client: httpx.AsyncClient, new_context: Any
) -> None:
    event = await new_event(client)
    room = event["rooms"][2]
    narrow = await join_room(await new_context(viewport={"width": 320, "height": 640}), room,
                             "A participant with a very long name, from a long organisation")
    await add_item(narrow, "Ein sehr langer Punkt " * 8, owner="Municipal emergency services")
    await add_role(narrow, "Directorate for Civil Protection", "Coordinator of coordinators")
    await no_sideways_scroll(narrow, "the room at 320px")
    await shot(narrow, "room-320px")
    page = await join_room(await new_context(viewport=LAPTOP), room, "Ola Hansen")
    # Text only, twice as large (the CSSOM is not inline style: the CSP allows it).
    await page.evaluate("() => { document.documentElement.style.fontSize = '200%'; }")
    await no_sideways_scroll(page, "the room at 200 % text")
    await expect(page.locator("#item-form button[type=submit]")).to_be_visible()
    await page.locator("#item-form button[type=submit]").scroll_into_view_if_needed()
    await shot(page, "room-200-percent-text")
    for path in ("/", "/new", event["rooms"][3]["join_url"]):
        await page.goto(path)
        await page.evaluate("() => { document.documentElement.style.fontSize = '200%'; }")
        await no_sideways_scroll(page, f"{path.split('?')[0]} at 200 % text")


async def test_moderator_controls_work_by_keyboard(
    server: Server, client: httpx.AsyncClient, new_context: Any
) -> None:
    event = await new_event(client)
    room = event["rooms"][0]
    participant = await join_room(await new_context(), room, "Kari Nordmann")
    organiser = await (await new_context()).new_page()
    await organiser.goto(event["moderator_url"])
    await expect(organiser.locator("#sync")).to_have_attribute("data-state", "live")
    await tab_to(organiser, "form.mod-views button[name=spotlight]")
    await organiser.keyboard.press("Enter")
    await expect(organiser.locator("form.mod-views button[name=spotlight]").first).to_have_attribute(
        "aria-pressed", "true")
    await tab_to(organiser, "#timer-minutes")
    await organiser.keyboard.press("Control+A")
    await organiser.keyboard.type("3")
    await organiser.keyboard.press("Enter")
    await expect(participant.locator("#broadcast .timer")).to_be_visible()
    await tab_to(organiser, "button[name=locked][value='1']")
    await organiser.keyboard.press("Enter")
    await expect(participant.locator("#room-state .banner")).to_be_visible()


async def test_live_changes_are_announced_politely_without_flooding(
    server: Server, client: httpx.AsyncClient, new_context: Any
) -> None:
    event = await new_event(client)
    room = event["rooms"][4]
    page = await join_room(await new_context(), room, "Kari Nordmann")
    await page.evaluate(
        """() => { window.__said = [];
            new MutationObserver(() => window.__said.push(
                document.getElementById('announcer').textContent))
              .observe(document.getElementById('announcer'),
                       {childList: true, characterData: true, subtree: true}); }""")
    assert await page.get_attribute("#announcer", "aria-live") == "polite"
    api = f"/api/events/{event['id']}/rooms/{room['id']}/items"
    await asyncio.gather(*(client.post(api, json=item_body(f"Idea {n}"),
                                       headers=auth(room["join_token"])) for n in range(6)))
    await expect(page.locator("li.item")).to_have_count(6)
    await expect(page.locator("#announcer")).not_to_have_text("")
    said: list[str] = await page.evaluate("() => window.__said")
    assert 1 <= len(said) <= 2, said  # six changes, one or two announcements
    assert said[-1].startswith(("Updates from the room:", "The board was updated.")), said
    # My own change, echoed back by the socket, is not announced again.
    await page.evaluate("() => { window.__said = []; }")
    await add_item(page, "Mine")
    await page.wait_for_timeout(2000)
    assert await page.evaluate("() => window.__said") == []


async def test_arrivals_are_highlighted_unless_the_person_asks_for_less_motion(
    server: Server, client: httpx.AsyncClient, new_context: Any
) -> None:
    """A change from someone else flashes in (app.css `arrived`); a person whose system
    asks for less motion (`prefers-reduced-motion: reduce`) gets it without the flash."""
    event = await new_event(client)
    room = event["rooms"][0]
    pages = {motion: await join_room(await new_context(reduced_motion=motion), room,
                                     f"Kari ({motion})")
             for motion in ("no-preference", "reduce")}
    answer = await client.post(f"/api/events/{event['id']}/rooms/{room['id']}/items",
                               json=item_body("Arrives live"), headers=auth(room["join_token"]))
    assert answer.status_code == 201
    for motion, page in pages.items():
        arrived = entry(page, "item", "Arrives live")
        await expect(arrived).to_have_count(1)
        name = await arrived.evaluate("el => getComputedStyle(el).animationName")
        assert name == ("none" if motion == "reduce" else "arrived"), (motion, name)

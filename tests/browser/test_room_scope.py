"""Room-scoped state stays in its room, in real browsers side by side; the board and the
moderator page stay free of console errors in every view (the fixture fails on any)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import PROJECTOR
from tests.browser.helpers import add_item, count_polls, entry, join_room, through_a_poll
from tests.conftest import Server, auth, item_body, new_event

pytestmark = pytest.mark.browser

VIEWS = ("rooms", "spotlight", "goals", "roles", "priorities", "join")
# The board and the moderator page poll "who is here" every 3 s; each view is watched
# through one poll at least (the page's clock moved on to it: helpers.through_a_poll).


async def sync_point(page: Page, client: httpx.AsyncClient, event: dict[str, Any],
                     room: dict[str, Any], text: str) -> None:
    """An item stored now in ``room``, shown on ``page``: every change before it was too."""
    api = f"/api/events/{event['id']}/rooms/{room['id']}/items"
    stored = await client.post(api, json=item_body(text), headers=auth(room["join_token"]))
    assert stored.status_code == 201, stored.text
    await expect(entry(page, "item", text)).to_have_count(1)


async def writable(page: Page) -> None:
    await expect(page.locator("#room-state .banner")).to_have_count(0)
    await expect(page.locator("#item-text")).to_be_enabled()
    await expect(page.locator("#role-actor")).to_be_enabled()
    await expect(page.locator("body")).not_to_have_class("room-page locked")


async def test_two_rooms_side_by_side_a_lock_and_an_edit_stay_in_their_room(
    server: Server, client: httpx.AsyncClient, new_context: Any
) -> None:
    event = await new_event(client)
    one, two = event["rooms"][0], event["rooms"][1]
    organiser = auth(event["organiser_token"])
    api = f"/api/events/{event['id']}"
    kari = await join_room(await new_context(), one, "Kari Nordmann")
    ola = await join_room(await new_context(), two, "Ola Hansen")

    assert (await client.post(f"{api}/rooms/{two['id']}/lock", headers=organiser)).status_code == 200
    await expect(ola.locator("#room-state .banner")).to_be_visible()
    await expect(ola.locator("#item-text")).to_be_disabled()
    await sync_point(kari, client, event, one, "Stored after room 2 was locked")
    await writable(kari)
    await add_item(kari, "Room 1 is still open")

    # A room edit: room 2's question changes on room 2's page only.
    rooms = [{"id": r["id"], "name": r["name"],
              "prompt": "Room two's new question?" if r["id"] == two["id"] else r["prompt"]}
             for r in event["rooms"]]
    assert (await client.patch(api, json={"rooms": rooms}, headers=organiser)).status_code == 200
    await expect(ola.locator(".prompt")).to_contain_text("Room two's new question?")
    await sync_point(kari, client, event, one, "Stored after the question changed")
    await expect(kari.locator(".prompt")).to_contain_text(one["prompt"])

    # Room 2's entries never show in room 1 (room 2 is locked: the organiser writes there).
    assert (await client.delete(f"{api}/rooms/{two['id']}/lock", headers=organiser)).status_code == 200
    await writable(ola)
    await add_item(ola, "Only in room 2")
    await sync_point(kari, client, event, one, "Stored after room 2's item")
    await expect(entry(kari, "item", "Only in room 2")).to_have_count(0)
    # Locking room 1 closes room 1, and room 2 stays open.
    assert (await client.post(f"{api}/rooms/{one['id']}/lock", headers=organiser)).status_code == 200
    await expect(kari.locator("#item-text")).to_be_disabled()
    await sync_point(ola, client, event, two, "Stored after room 1 was locked")
    await writable(ola)


async def test_the_board_in_every_view_and_a_merge_from_a_resized_box_log_no_error(
    server: Server, client: httpx.AsyncClient, new_context: Any
) -> None:
    event = await new_event(client)
    organiser = auth(event["organiser_token"])
    api = f"/api/events/{event['id']}"
    one, two = event["rooms"][0], event["rooms"][1]
    await client.post(f"{api}/rooms/{one['id']}/items", json=item_body("A joint contact list"),
                      headers=auth(one["join_token"]))
    await client.post(f"{api}/rooms/{two['id']}/items", json=item_body("One contact list"),
                      headers=auth(two["join_token"]))
    # Somebody in room 1, so the counters have something to say.
    await join_room(await new_context(), one, "Kari Nordmann")
    projector_context = await new_context(viewport=PROJECTOR)
    await projector_context.clock.install()
    projector = await projector_context.new_page()
    await projector.goto(event["plenary_url"])
    await projector.locator("#sync[data-state=live]").wait_for()
    await count_polls(projector)
    for view in VIEWS:
        body: dict[str, Any] = {"view": view}
        if view == "spotlight":
            body["spotlight"] = one["id"]
        answer = await client.patch(f"{api}/plenary", json=body, headers=organiser)
        assert answer.status_code == 200, answer.text
        await expect(projector.locator("#plenary-view")).to_have_attribute("data-view", view)
        await through_a_poll(projector)

    # The moderator drags the joint action's box bigger (an inline size on the element),
    # then merges: the form comes back re-rendered, and nothing is refused by the CSP.
    moderator_context = await new_context()
    await moderator_context.clock.install()
    moderator = await moderator_context.new_page()
    await moderator.goto(event["moderator_url"])
    await moderator.locator("#sync[data-state=live]").wait_for()
    await count_polls(moderator)
    items = moderator.locator("li.mod-item")
    for text in ("A joint contact list", "One contact list"):
        await items.filter(has_text=text).locator("input[type=checkbox]").check()
    box = moderator.locator("#merge-text")
    await box.evaluate("(el) => { el.style.height = '9em'; el.style.width = '30em'; }")
    await box.fill("One contact list for every room")
    await moderator.get_by_role("button", name="Merge the ticked items").click()
    await expect(moderator.locator("body")).to_contain_text("One contact list for every room")
    await expect(moderator.locator("#merge-text")).to_have_value("")
    await through_a_poll(moderator)

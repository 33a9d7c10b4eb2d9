"""Offline in a real browser: what a person types is kept, survives a reload, and
arrives exactly once when the network returns (static/outbox.js)."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

import httpx
import pytest
from playwright.async_api import BrowserContext, Page, expect

from tests.browser.conftest import Problems
from tests.browser.helpers import act
from tests.conftest import Server, auth, new_event

pytestmark = pytest.mark.browser


async def enter(context: BrowserContext, room: dict[str, Any], name: str) -> Page:
    page = await context.new_page()
    await page.goto(room["join_url"])
    await page.get_by_label("Your name").fill(name)
    await page.get_by_role("button", name="Enter the room").click()
    await expect(page.locator("#sync")).to_have_attribute("data-state", "live")
    return page


async def type_item(page: Page, text: str) -> None:
    await page.locator("#item-text").fill(text)
    await page.locator("#item-form button[type=submit]").click()
    # The form moves on at once, ready for the next item, network or not.
    await expect(page.locator("#item-text")).to_have_value("")


def items(page: Page, text: str) -> Any:
    return page.locator("li.entry.item").filter(has_text=text)


async def test_items_added_offline_survive_a_reload_and_arrive_once(
    server: Server, client: httpx.AsyncClient, new_context: Any
) -> None:
    event = await new_event(client)
    room = event["rooms"][0]
    mine = await new_context()
    theirs = await new_context()
    page = await enter(mine, room, "Kari Nordmann")
    other = await enter(theirs, room, "Ola Nordmann")
    first, second = f"Offline one {uuid.uuid4().hex[:6]}", f"Offline two {uuid.uuid4().hex[:6]}"

    await mine.set_offline(True)
    await type_item(page, first)
    await type_item(page, second)
    # Shown at once, marked as not sent yet, and counted on the sync indicator.
    for text in (first, second):
        await expect(items(page, text)).to_have_count(1)
        await expect(items(page, text)).to_have_class("entry item pending")
        await expect(items(page, text)).to_contain_text("Not sent yet")
    await expect(page.locator("#sync .sync-pending")).to_have_text("2 changes not sent yet")
    await expect(page.locator("#sync")).to_have_attribute("data-state", "offline")
    # Nothing reached the server, so nobody else sees them.
    await expect(items(other, first)).to_have_count(0)

    # A reload while still offline: the browser cannot load the page at all...
    with contextlib.suppress(Exception):  # net::ERR_INTERNET_DISCONNECTED is the point
        await page.reload(wait_until="domcontentloaded", timeout=5_000)
    # ...and when the network is back, the page comes back and sends what was kept.
    await mine.set_offline(False)
    await page.goto(room["join_url"].split("?")[0])
    await expect(page.locator("#sync")).to_have_attribute("data-state", "live")
    for text in (first, second):
        await expect(items(page, text)).to_have_count(1)
        await expect(items(page, text)).not_to_have_class("entry item pending")
        await expect(items(other, text)).to_have_count(1)
    await expect(page.locator("#sync .sync-pending")).to_be_hidden()
    assert await page.evaluate("() => window.facilitationOutbox.pending()") == 0

    # The store holds each exactly once, and nothing else.
    answer = await client.get(f"/api/events/{event['id']}/rooms/{room['id']}",
                              headers=auth(room["join_token"]))
    texts = [item["text"] for item in answer.json()["items"]]
    assert sorted(texts) == sorted([first, second])
    # A fresh page (another reload) shows each once too.
    await page.reload()
    for text in (first, second):
        await expect(items(page, text)).to_have_count(1)


async def test_a_refused_change_is_shown_with_its_reason_and_can_be_put_back(
    server: Server, client: httpx.AsyncClient, new_context: Any, problems: Problems
) -> None:
    problems.allow(r"^http 423: POST \S+/items$", "the room is locked while the item waits")
    event = await new_event(client)
    room = event["rooms"][1]
    context = await new_context()
    page = await enter(context, room, "Kari Nordmann")
    # The moderator locks the room while this person's change is still unsent.
    await context.set_offline(True)
    await type_item(page, "Written just before the lock")
    locked = await client.post(f"/api/events/{event['id']}/rooms/{room['id']}/lock",
                               headers=auth(event["organiser_token"]))
    assert locked.status_code == 200
    await context.set_offline(False)
    await page.evaluate("() => window.facilitationOutbox.flush()")
    panel = page.locator("#outbox")
    await expect(panel).to_be_visible()
    await expect(panel).to_contain_text("Written just before the lock")
    await expect(panel).to_contain_text("locked")
    # Not on the board (it was not saved), not lost (it is in the panel).
    await expect(page.locator("#items-" + room["id"] + " li")).to_have_count(0)
    # Unlocked again: "Try again" sends it, once.
    await client.delete(f"/api/events/{event['id']}/rooms/{room['id']}/lock",
                        headers=auth(event["organiser_token"]))
    await expect(page.locator("#room-state")).to_have_attribute("data-locked", "false")
    await panel.get_by_role("button", name="Try again").click()
    await expect(panel).to_be_hidden()
    await page.wait_for_function("() => window.facilitationOutbox.pending() === 0")
    await expect(items(page, "Written just before the lock")).to_have_count(1)
    await expect(items(page, "Written just before the lock")).to_have_attribute(
        "data-version", "1")


async def test_a_stale_edit_is_settled_at_the_item_theirs_beside_mine(
    server: Server, client: httpx.AsyncClient, new_context: Any, problems: Problems
) -> None:
    problems.allow(r"^http 409: POST \S+/items/[0-9a-f-]+$", "the edit is stale on purpose")
    event = await new_event(client)
    room = event["rooms"][2]
    api = f"/api/events/{event['id']}/rooms/{room['id']}/items"
    item = {"id": str(uuid.uuid4()), "text": "Original wording"}
    assert (await client.post(api, json=item, headers=auth(room["join_token"]))).status_code == 201
    context = await new_context()
    page = await enter(context, room, "Kari Nordmann")
    entry = items(page, "Original wording")
    await act(entry, "link", "Edit")
    await page.locator(f"#edit-text-{item['id']}").fill("My wording")
    # Someone else saves first.
    changed = await client.patch(f"{api}/{item['id']}", json={"version": 1, "text": "Their wording"},
                                 headers=auth(room["join_token"]))
    assert changed.status_code == 200
    await page.get_by_role("button", name="Save").click()
    # Settled at the item itself: the saved version beside mine, two plain choices.
    conflict = page.locator(f"#item-{item['id']} .conflict")
    await expect(conflict).to_be_visible()
    await expect(conflict).to_contain_text("Their wording")  # the saved version
    await expect(conflict).to_contain_text("My wording")     # beside mine
    await expect(page.locator("#outbox")).to_be_hidden()
    await conflict.get_by_role("button", name="Use mine").click()
    await expect(conflict).to_have_count(0)
    await page.wait_for_function("() => window.facilitationOutbox.pending() === 0")
    await expect(items(page, "My wording")).to_have_count(1)
    await expect(items(page, "My wording")).to_have_attribute("data-version", "3")
    stored = await client.get(f"/api/events/{event['id']}/rooms/{room['id']}",
                              headers=auth(room["join_token"]))
    assert [i["text"] for i in stored.json()["items"]] == ["My wording"]


async def test_an_item_and_a_role_added_offline_both_arrive_once(
    server: Server, client: httpx.AsyncClient, new_context: Any
) -> None:
    """Both add forms once rendered one shared id, and the outbox kept the second change
    in place of the first: the item was never sent. Each change has its own id now."""
    event = await new_event(client)
    room = event["rooms"][0]
    context = await new_context()
    page = await enter(context, room, "Kari Nordmann")
    # Whatever id the forms were rendered with (here one for both, as before), each
    # submit makes its own.
    await page.evaluate("""() => { const id = document.querySelector('#item-form [name=id]').value;
                                   document.querySelector('#role-form [name=id]').value = id; }""")
    await context.set_offline(True)
    await type_item(page, "Offline item")
    await page.locator("#role-actor").fill("Offline actor")
    await page.locator("#role-role").fill("coordinator")
    await page.locator("#role-form button[type=submit]").click()
    await expect(page.locator("#sync .sync-pending")).to_have_text("2 changes not sent yet")
    assert await page.evaluate("() => window.facilitationOutbox.pending()") == 2
    await context.set_offline(False)
    await page.wait_for_function("() => window.facilitationOutbox.pending() === 0")
    await expect(page.locator("#sync .sync-pending")).to_be_hidden()
    await expect(page.locator(".entry.pending")).to_have_count(0)
    board = (await client.get(f"/api/events/{event['id']}/rooms/{room['id']}",
                              headers=auth(room["join_token"]))).json()
    assert [i["text"] for i in board["items"]] == ["Offline item"]
    assert [r["actor"] for r in board["roles"]] == ["Offline actor"]

"""The room page held to its peers: a conflict settled at the item, one clear locked state,
a compact sticky bar on a phone, the add form a few Tab presses from the top however long
the list, toasts that cover nothing, one way of writing dates. Screenshots for review:
tests/artifacts/room-{empty,busy,locked,conflict}-{laptop,phone}.png."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import LAPTOP, PHONE, Problems, assert_accessible, shot
from tests.browser.helpers import act, add_item, entry, join_room, wait_live
from tests.conftest import Server, auth, item_body, new_event

pytestmark = pytest.mark.browser

SIZES = (("laptop", LAPTOP), ("phone", PHONE))


async def fill_room(client: httpx.AsyncClient, event: dict[str, Any], room: dict[str, Any],
                    items: int = 20, roles: int = 4) -> None:
    api = f"/api/events/{event['id']}/rooms/{room['id']}"
    token = auth(room["join_token"])
    for n in range(items):
        body = item_body(f"Action {n + 1}: exercise the plan with partner {n + 1}",
                         owner=f"Owner {n + 1}", due=f"2026-0{n % 9 + 1}-1{n % 9}")
        assert (await client.post(f"{api}/items", json=body, headers=token)).status_code == 201
    for n in range(roles):
        body = {"id": str(uuid.uuid4()), "actor": f"Actor {n + 1}", "role": "coordinator",
                "responsibility": "Convenes the forum"}
        assert (await client.post(f"{api}/roles", json=body, headers=token)).status_code == 201


async def tabs_to(page: Page, selector: str, limit: int = 40) -> int:
    """Tab presses from the top of a freshly loaded page until ``selector`` has the focus."""
    await page.reload()
    await wait_live(page)
    for n in range(1, limit + 1):
        await page.keyboard.press("Tab")
        if await page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return n
    raise AssertionError(f"{selector} not reached in {limit} Tab presses")


async def covered_controls(page: Page) -> list[str]:
    """Visible fields and buttons of the page that a shown toast lies over."""
    found: list[str] = await page.evaluate(
        """() => {
            const toasts = [...document.querySelectorAll('#toasts .toast')]
                .map(t => t.getBoundingClientRect()).filter(r => r.width && r.height);
            const bar = document.querySelector('.topbar');
            const barBottom = bar ? bar.getBoundingClientRect().bottom : 0;
            const out = [];
            for (const el of document.querySelectorAll(
                    'main input, main textarea, main select, main button, main summary')) {
                const r = el.getBoundingClientRect();
                if (!r.width || !r.height || r.bottom <= barBottom || r.top >= innerHeight) continue;
                for (const t of toasts) {
                    if (r.left < t.right && t.left < r.right && r.top < t.bottom && t.top < r.bottom)
                        out.push(el.id || el.name || el.textContent.trim().slice(0, 30));
                }
            }
            return out;
        }""")
    return found


async def test_room_page_states_on_laptop_and_phone(
    server: Server, client: httpx.AsyncClient, new_context: Any, problems: Problems
) -> None:
    problems.allow(r"^http 409: POST \S+/items/[0-9a-f-]+$", "the conflict screenshot's stale edit")
    event = await new_event(client)
    organiser = auth(event["organiser_token"])
    api = f"/api/events/{event['id']}"
    empty, busy = event["rooms"][0], event["rooms"][1]
    await fill_room(client, event, busy)
    await client.put(f"{api}/timer", json={"seconds": 600, "label": "Room 2 presents"},
                     headers=organiser)
    for size, viewport in SIZES:
        page = await join_room(await new_context(viewport=viewport), empty, f"Kari on a {size}")
        await expect(page.locator(".empty-state").first).to_be_visible()
        await assert_accessible(page)
        await shot(page, f"room-empty-{size}")

        page = await join_room(await new_context(viewport=viewport), busy, f"Ola on a {size}")
        await expect(page.locator("li.item")).to_have_count(20)
        # With 20 items the add form is a few Tab presses from the top, and so is the
        # role form (through the link beside the name).
        assert await tabs_to(page, "#item-text") <= 10
        assert await tabs_to(page, "a[data-jump][href='#role-actor']") <= 10
        await page.keyboard.press("Enter")
        await expect(page.locator("#role-actor")).to_be_focused()
        # Each item's actions are one Tab stop: the menu.
        first = page.locator("li.item").first
        assert await first.locator("button:visible, a:visible, summary:visible").count() == 1
        await assert_accessible(page)
        await shot(page, f"room-busy-{size}")
        if size == "phone":
            # Scrolled to the end, the compact bar still says which room, the time, the link.
            await page.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")
            bar = page.locator(".topbar")
            box = await bar.bounding_box()
            assert box is not None and abs(box["y"]) < 1 and box["height"] < 120, box
            for part in (".room-name", ".timer-clock", "#sync"):
                await expect(bar.locator(part)).to_be_in_viewport()
            await shot(page, "room-busy-phone-scrolled", full_page=False, from_top=False)

    # Locked: the forms fold into one closed state; nothing looks usable that is not.
    assert (await client.post(f"{api}/rooms/{busy['id']}/lock", headers=organiser)).status_code == 200
    for size, viewport in SIZES:
        page = await join_room(await new_context(viewport=viewport), busy, f"Eva on a {size}")
        await expect(page.locator("#room-state .banner")).to_be_visible()
        controls = page.locator("main :is(input, textarea, select, button, summary):visible")
        await expect(controls).to_have_count(0)
        await assert_accessible(page)
        await shot(page, f"room-locked-{size}")
    assert (await client.delete(f"{api}/rooms/{busy['id']}/lock",
                                headers=organiser)).status_code == 200

    # A conflict: settled at the item, theirs beside mine, two plain choices.
    for size, viewport in SIZES:
        page = await join_room(await new_context(viewport=viewport), empty, f"Ola on a {size}")
        text = f"Wording on a {size}"
        await add_item(page, text)
        item = entry(page, "item", text)
        await act(item, "link", "Edit")
        await page.locator("textarea[id^=edit-text-]").fill(f"My wording on a {size}")
        item_id = (await item.get_attribute("id") or "").removeprefix("item-")
        theirs = await client.patch(f"{api}/rooms/{empty['id']}/items/{item_id}",
                                    json={"version": 1, "text": f"Their wording on a {size}"},
                                    headers=auth(empty["join_token"]))
        assert theirs.status_code == 200
        await page.locator(".edit-form button[type=submit]").click()
        conflict = page.locator(f"#item-{item_id} .conflict")
        await expect(conflict).to_be_visible()
        await expect(conflict).to_contain_text(f"Their wording on a {size}")
        await expect(conflict).to_contain_text(f"My wording on a {size}")
        await expect(conflict.get_by_role("button")).to_have_count(2)
        await expect(page.locator("#outbox")).to_be_hidden()
        await assert_accessible(page)
        await shot(page, f"room-conflict-{size}")
        await conflict.get_by_role("button", name="Use mine").click()
        await expect(page.locator(f"#item-{item_id} .entry-text")).to_have_text(
            f"My wording on a {size}")
        await expect(conflict).to_have_count(0)


async def test_keep_theirs_and_use_mine_decide_what_is_stored(
    server: Server, client: httpx.AsyncClient, new_context: Any, problems: Problems
) -> None:
    problems.allow(r"^http 409: POST \S+/(items|roles)/[0-9a-f-]+$", "stale changes on purpose")
    event = await new_event(client)
    room = event["rooms"][2]
    api = f"/api/events/{event['id']}/rooms/{room['id']}"
    token = auth(room["join_token"])
    page = await join_room(await new_context(), room, "Kari Nordmann")
    for text in ("First", "Second"):
        await add_item(page, text)
    # The page still shows version 1 of both; someone else changes both first.
    ids = {}
    for text in ("First", "Second"):
        ids[text] = (await entry(page, "item", text).get_attribute("id") or "")[5:]
    await page.context.set_offline(True)
    await act(entry(page, "item", "First"), "button", "Mark agreed")
    await act(entry(page, "item", "Second"), "button", "Mark agreed")
    for text in ("First", "Second"):
        answer = await client.patch(f"{api}/items/{ids[text]}",
                                    json={"version": 1, "status": "done"}, headers=token)
        assert answer.status_code == 200
    await page.context.set_offline(False)
    for text in ("First", "Second"):
        await expect(entry(page, "item", text).locator(".conflict")).to_be_visible()
    await entry(page, "item", "First").get_by_role("button", name="Keep theirs").click()
    await entry(page, "item", "Second").get_by_role("button", name="Use mine").click()
    await page.wait_for_function("() => window.facilitationOutbox.pending() === 0")
    await expect(page.locator(".conflict")).to_have_count(0)
    board = (await client.get(api, headers=token)).json()
    status = {i["text"]: i["status"] for i in board["items"]}
    assert status == {"First": "done", "Second": "agreed"}


async def test_toasts_cover_no_field_and_dates_read_alike_everywhere(
    server: Server, client: httpx.AsyncClient, new_context: Any
) -> None:
    for language, written in (("en", "Mar 1, 2026"), ("nb", "1. mars 2026")):
        event = await new_event(client, {"title": "Dates", "language": language,
                                         "rooms": [{"name": "One"}]})
        room = event["rooms"][0]
        for size, viewport in SIZES:
            page = await join_room(await new_context(viewport=viewport), room, "Kari")
            await page.locator("#item-due").fill("2026-03-01")
            await expect(page.locator("output[for=item-due]")).to_have_text(written)
            text = f"Dated on a {size}"
            await page.locator("#item-text").fill(text)
            await page.locator("#item-form button[type=submit]").click()
            await expect(entry(page, "item", text).locator("time")).to_have_text(written)
            await expect(page.locator("#toasts .toast")).to_have_count(1)
            assert await covered_controls(page) == []
            # Scrolled to the form: the toast still covers nothing.
            await page.locator("#role-form button[type=submit]").scroll_into_view_if_needed()
            assert await covered_controls(page) == []
        board = await (await new_context()).new_page()
        await board.goto(event["plenary_url"])
        await wait_live(board)
        await expect(board.locator("#plenary-view time").first).to_have_text(written)


async def test_a_pushed_deletion_of_what_the_page_no_longer_shows_logs_nothing(
    server: Server, client: httpx.AsyncClient, new_context: Any
) -> None:
    """The form's own answer may remove an entry before the push of its deletion arrives:
    that push has nothing left to remove, and the page must not log an error for it."""
    event = await new_event(client)
    room = event["rooms"][3]
    api = f"/api/events/{event['id']}/rooms/{room['id']}/items"
    page = await join_room(await new_context(), room, "Kari Nordmann")
    item = item_body("Removed here first")
    assert (await client.post(api, json=item, headers=auth(room["join_token"]))).status_code == 201
    await expect(entry(page, "item", "Removed here first")).to_have_count(1)
    await page.evaluate("(id) => document.getElementById('item-' + id).remove()", item["id"])
    deleted = await client.delete(f"{api}/{item['id']}", headers=auth(room["join_token"]))
    assert deleted.status_code == 204
    # A later change: once it shows, the deletion's push was handled before it.
    await add_item(page, "Added after the deletion")
    # (The fixture fails the test on htmx's oobErrorNoTarget, had it been logged.)

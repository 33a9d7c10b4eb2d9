"""The breakout room in a real browser: two people, live, by keyboard, accessible."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from tests.browser.conftest import LAPTOP, PHONE, assert_accessible, shot
from tests.browser.helpers import act, add_item, add_role, entry, join_room, tab_to, wait_live
from tests.conftest import Server, new_event

pytestmark = pytest.mark.browser


async def test_two_participants_see_each_others_changes_live_and_other_rooms_do_not(
    server: Server, client: httpx.AsyncClient, new_context: Any
) -> None:
    event = await new_event(client)
    room, other_room = event["rooms"][0], event["rooms"][1]
    kari = await join_room(await new_context(), room, "Kari Nordmann", "Vestland county")
    ola = await join_room(await new_context(), room, "Ola Hansen", "Port of Bergen")
    stranger = await join_room(await new_context(), other_room, "Eva Lind")
    for page in (kari, ola, stranger):
        page.on("dialog", lambda dialog: dialog.accept())

    # Add: Kari writes, Ola sees it at once, with Kari's name on it.
    await add_item(kari, "Set up a joint contact list", owner="Port of Bergen", due="2026-03-01")
    seen = entry(ola, "item", "Set up a joint contact list")
    await expect(seen).to_be_visible()
    await expect(seen).to_contain_text("Kari Nordmann")
    await expect(seen).to_contain_text("Port of Bergen")
    await add_role(ola, "County council", "Coordinator", "Convenes the forum twice a year")
    await expect(entry(kari, "role", "County council")).to_contain_text("Coordinator")

    # Edit: Ola rewrites the item; Kari's copy follows.
    await act(seen, "link", "Edit")
    await ola.locator("textarea[id^=edit-text-]").fill("Set up a joint contact list by March")
    await ola.locator(".edit-form button[type=submit]").click()
    await expect(entry(kari, "item", "by March")).to_be_visible()
    await expect(ola.locator(".edit-form")).to_have_count(0)

    # Edit a role too.
    await act(entry(kari, "role", "County council"), "link", "Edit")
    await kari.locator("input[id^=edit-role-]").fill("Lead coordinator")
    await kari.locator(".edit-form button[type=submit]").click()
    await expect(entry(ola, "role", "County council")).to_contain_text("Lead coordinator")

    # Agree: Kari marks it agreed, Ola sees the status in words, not only colour.
    await act(entry(kari, "item", "by March"), "button", "Mark agreed")
    await expect(entry(ola, "item", "by March").locator(".status-badge")).to_contain_text("Agreed")

    # The other room saw none of it.
    await expect(stranger.locator("li.entry")).to_have_count(0)
    await expect(stranger.locator("body")).not_to_contain_text("by March")

    # Delete: Ola deletes the item and the role (after confirming); both vanish for Kari.
    await act(entry(ola, "item", "by March"), "button", "Delete")
    await expect(entry(kari, "item", "by March")).to_have_count(0)
    await act(entry(ola, "role", "County council"), "button", "Delete")
    await expect(entry(kari, "role", "County council")).to_have_count(0)
    # The empty room explains itself again.
    await expect(kari.locator(".empty-state").first).to_be_visible()
    await assert_accessible(kari)


async def test_room_page_by_keyboard_alone(
    server: Server, client: httpx.AsyncClient, new_context: Any
) -> None:
    event = await new_event(client)
    room = event["rooms"][2]
    context = await new_context()
    page = await context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    await page.goto(room["join_url"])
    # The name field has the focus on arrival; type, Tab on, Enter to join.
    await page.keyboard.type("Keyboard Kari")
    await tab_to(page, "form[action$='/name'] button[type=submit]")
    await page.keyboard.press("Enter")
    await wait_live(page)

    # The skip link is the first stop and leads to the content.
    await page.keyboard.press("Tab")
    assert await page.evaluate("() => document.activeElement.classList.contains('skip')")

    await tab_to(page, "#item-text")
    await page.keyboard.type("Exercise with the port authority")
    await tab_to(page, "#item-owner")
    await page.keyboard.type("Port of Bergen")
    await tab_to(page, "#item-form button[type=submit]")
    await page.keyboard.press("Enter")
    item = entry(page, "item", "Exercise with the port authority")
    await expect(item).to_be_visible()

    # Agree it, edit it, then delete it, all by keyboard, from the entry's one menu.
    menu = item.locator(".entry-menu summary")
    await tab_to(page, "li.item .entry-menu summary")
    await page.keyboard.press("Enter")
    await tab_to(page, "li.item button[value=agreed]")
    await page.keyboard.press("Enter")
    await expect(item.locator(".status-badge")).to_contain_text("Agreed")
    await expect(menu).to_be_focused()  # the place is kept, the menu closed again
    await expect(item.locator("details.entry-menu")).not_to_have_attribute("open", "")
    # Escape closes an open menu and stays on its button.
    await page.keyboard.press("Enter")
    await tab_to(page, "li.item a[href$='/edit']")
    await page.keyboard.press("Escape")
    await expect(menu).to_be_focused()
    await expect(item.locator("details.entry-menu")).not_to_have_attribute("open", "")
    await page.keyboard.press("Enter")
    await tab_to(page, "li.item a[href$='/edit']")
    await page.keyboard.press("Enter")
    field = page.locator("textarea[id^=edit-text-]")
    await expect(field).to_be_focused()
    await page.keyboard.press("Control+A")
    await page.keyboard.type("Joint exercise with the port authority")
    await tab_to(page, ".edit-form button[type=submit]")
    await page.keyboard.press("Enter")
    await page.wait_for_function("() => window.facilitationOutbox.pending() === 0")
    await expect(item.locator(".entry-text")).to_have_text("Joint exercise with the port authority")
    await expect(menu).to_be_focused()
    await page.keyboard.press("Enter")
    await tab_to(page, "li.item button.danger")
    await page.keyboard.press("Enter")
    await expect(page.locator("li.item")).to_have_count(0)
    # The focus moves to the toast's Undo: Enter brings the item back, as it was.
    undo = page.locator("#toasts .toast").filter(has_text="Action item deleted.").get_by_role(
        "button", name="Undo")
    await expect(undo).to_be_focused()
    await page.keyboard.press("Enter")
    restored = entry(page, "item", "Joint exercise")
    await expect(restored).to_be_visible()
    await expect(restored.locator(".status-badge")).to_contain_text("Agreed")
    await expect(page.locator("#toasts")).to_contain_text("Action item restored.")

    # A role, by keyboard.
    await tab_to(page, "#role-actor")
    await page.keyboard.type("Municipality")
    await page.keyboard.press("Tab")
    await page.keyboard.type("Local emergency lead")
    await tab_to(page, "#role-form button[type=submit]")
    await page.keyboard.press("Enter")
    await expect(entry(page, "role", "Municipality")).to_be_visible()


async def test_join_and_room_pages_pass_axe_and_are_screenshotted(
    server: Server, client: httpx.AsyncClient, new_context: Any
) -> None:
    event = await new_event(client)
    room = event["rooms"][3]
    for size_name, viewport in (("laptop", LAPTOP), ("phone", PHONE)):
        context = await new_context(viewport=viewport)
        page = await context.new_page()
        await page.goto(room["join_url"])
        await assert_accessible(page)
        await shot(page, f"join-{size_name}")
        await page.locator("#name").fill(f"Participant on a {size_name}")
        await page.locator("#org").fill("Vestland county")
        await page.locator("form[action$='/name'] button[type=submit]").click()
        await wait_live(page)  # the empty room page's axe and screenshot: test_room_ux.py
    # A room with content, as a participant finds it mid-session.
    page = await join_room(await new_context(viewport=LAPTOP), event["rooms"][4], "Kari Nordmann")
    await add_item(page, "Set up a joint contact list for port authorities and municipal "
                   "emergency services", owner="Port of Bergen", due="2026-03-01")
    await add_item(page, "Map which actor holds which mandate in a cross-border incident",
                   owner="County council")
    await act(entry(page, "item", "joint contact list"), "button", "Mark agreed")
    await expect(entry(page, "item", "joint contact list")).to_have_attribute(
        "data-status", "agreed")
    await add_item(page, "تمرين مشترك مع سلطة الميناء", owner="Hamnavdelinga")
    await add_role(page, "County council", "Coordinator",
                   "Convenes the regional preparedness forum twice a year")
    await add_role(page, "Port authority", "Interface to shipping")
    await assert_accessible(page)
    await shot(page, "room-full-laptop")
    await page.set_viewport_size(PHONE)
    await shot(page, "room-full-phone")
    await act(entry(page, "item", "cross-border"), "link", "Edit")
    await expect(page.locator(".edit-form")).to_be_visible()
    # From the top: axe takes a control scrolled under the sticky bar for a small target.
    await page.evaluate("() => window.scrollTo(0, 0)")
    await assert_accessible(page)
    await shot(page, "room-editing-phone")


async def test_first_impressions_title_icon_rtl_and_no_jumps(
    server: Server, client: httpx.AsyncClient, new_context: Any
) -> None:
    event = await new_event(client)
    room = event["rooms"][5]
    kari = await join_room(await new_context(), room, "Kari Nordmann")
    ola = await join_room(await new_context(), room, "Ola Hansen")
    # The tab says which room; the icon is there.
    assert await kari.title() == f"{room['name']} · {event['title']}"
    icon = await kari.get_attribute("link[rel=icon]", "href")
    assert icon and (await client.get(icon)).status_code == 200
    # Right-to-left text reads right to left, whatever the page's language.
    await add_item(ola, "تمرين مشترك مع سلطة الميناء")
    text = entry(kari, "item", "تمرين").locator(".entry-text")
    assert await text.evaluate("el => getComputedStyle(el).direction") == "rtl"
    # Kari is typing in the add form, scrolled down; Ola's new items arrive above it:
    # the field Kari types in stays where it was (no layout jump).
    for n in range(3):
        await add_item(ola, f"Filler {n}")
    field = kari.locator("#item-text")
    await field.scroll_into_view_if_needed()
    await kari.evaluate("() => window.scrollBy(0, 200)")
    await field.click()
    await kari.keyboard.type("Half a sentence")
    before = await field.evaluate("el => el.getBoundingClientRect().top")
    await add_item(ola, "Arrives while Kari types")
    await expect(entry(kari, "item", "Arrives while Kari types")).to_be_visible()
    after = await field.evaluate("el => el.getBoundingClientRect().top")
    assert abs(after - before) <= 1, (before, after)
    await expect(field).to_be_focused()
    await expect(field).to_have_value("Half a sentence")

"""The whole day of an event, in real browsers: organiser, participants, moderator, downloads.

One test, in the order of the day: the organiser creates the event in the browser
(with the admin token), hands out the rooms' links from the moderator page, and later
drives the plenary from it and downloads the outcomes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import LAPTOP, PROJECTOR, Problems, assert_accessible, shot
from tests.browser.helpers import act, add_item, add_role, entry, join_room
from tests.conftest import ADMIN, Server

pytestmark = pytest.mark.browser

DOWNLOADS = ("json", "csv", "roles.csv", "xlsx", "md", "ics")


async def organiser_creates_the_event(page: Page) -> None:
    await page.goto("/")
    await page.get_by_role("link", name="Create an event").click()
    await page.get_by_label("Title").fill("Security and preparedness (draft)")
    await page.get_by_label("Rooms").fill(
        "Ports and logistics: Who does what when a port closes?\n"
        "Municipal preparedness: How do we exercise together?")
    await page.get_by_label("Plan goals").fill("Shared situational picture\nClear roles")
    await page.get_by_label("Admin token").fill("not the token")
    await page.get_by_role("button", name="Create the event").click()
    await expect(page.locator(".form-error")).to_contain_text("not the admin token")
    await expect(page.get_by_label("Rooms")).to_contain_text("Ports and logistics")
    await assert_accessible(page)
    await page.get_by_label("Admin token").fill(ADMIN)
    await page.get_by_role("button", name="Create the event").click()
    await expect(page).to_have_title(re.compile("Moderator"))
    assert "t=" not in page.url
    # The final title, on the moderator page's settings.
    settings = page.locator("#settings")
    await settings.locator("summary").click()
    await settings.locator("#ev-title").fill("Security and preparedness")
    await settings.get_by_role("button", name="Save the event").click()
    await expect(page.locator(".topbar .room-name")).to_have_text("Security and preparedness")


async def link_of(page: Page, label: str) -> str:
    value = await page.locator("#access-links").get_by_label(label, exact=True).input_value()
    assert value.startswith("http")
    return value


async def test_the_whole_day(
    server: Server, client: httpx.AsyncClient, new_context: Any, problems: Problems
) -> None:
    problems.allow(r"^http 422: POST \S+/new$", "the organiser first types a wrong admin token")
    # Morning: the organiser creates the event in the browser and takes the links.
    organiser_context = await new_context(viewport=LAPTOP, accept_downloads=True)
    moderator = await organiser_context.new_page()
    await organiser_creates_the_event(moderator)
    await assert_accessible(moderator)
    ports = {"join_url": await link_of(moderator, "Ports and logistics")}
    municipal = {"join_url": await link_of(moderator, "Municipal preparedness")}
    plenary_url = await link_of(moderator, "Plenary board")

    # Part 2: two participants in one room, one in another.
    kari = await join_room(await new_context(), ports, "Kari Nordmann", "Port of Bergen")
    ola = await join_room(await new_context(), ports, "Ola Hansen", "Vestland county")
    eva = await join_room(await new_context(), municipal, "Eva Lind", "Bergen municipality")
    for page in (kari, ola, eva):
        page.on("dialog", lambda dialog: dialog.accept())
    await expect(kari.locator(".prompt")).to_contain_text("Who does what when a port closes?")
    await add_item(kari, "Set up a joint contact list for port authorities", owner="Port of Bergen")
    await expect(entry(ola, "item", "joint contact list")).to_be_visible()
    await add_item(ola, "Draft of a shared alert routine", owner="County council")
    await act(entry(kari, "item", "shared alert routine"), "link", "Edit")
    await kari.locator("textarea[id^=edit-text-]").fill("Agree a shared alert routine")
    await kari.locator(".edit-form button[type=submit]").click()
    await expect(entry(ola, "item", "Agree a shared alert routine")).to_be_visible()
    await act(entry(ola, "item", "joint contact list"), "button", "Mark agreed")
    await expect(entry(kari, "item", "joint contact list")).to_have_attribute(
        "data-status", "agreed")
    await add_role(kari, "Port authority", "Interface to shipping")
    await expect(entry(ola, "role", "Port authority")).to_be_visible()
    await add_item(ola, "Remove me", owner="nobody")
    await act(entry(kari, "item", "Remove me"), "button", "Delete")
    await expect(entry(ola, "item", "Remove me")).to_have_count(0)
    await add_item(eva, "Joint contact list for port and municipal emergency services")
    await expect(eva.locator("li.item")).to_have_count(1)
    await expect(kari.locator("li.item")).to_have_count(2)  # Eva's stays in her room

    # The Wi-Fi drops on Kari's laptop: an item and a role added meanwhile both arrive.
    await kari.context.set_offline(True)
    await kari.locator("#item-text").fill("Offline: list the ports' emergency contacts")
    await kari.locator("#item-form button[type=submit]").click()
    await kari.locator("#role-actor").fill("Coastal administration")
    await kari.locator("#role-role").fill("Pilot service")
    await kari.locator("#role-form button[type=submit]").click()
    await expect(kari.locator("#sync .sync-pending")).to_have_text("2 changes not sent yet")
    await kari.context.set_offline(False)
    await kari.wait_for_function("() => window.facilitationOutbox.pending() === 0")
    for page in (kari, ola):
        await expect(entry(page, "item", "list the ports' emergency contacts")).to_have_count(1)
        await expect(entry(page, "role", "Coastal administration")).to_have_count(1)
    await expect(kari.locator(".entry.pending")).to_have_count(0)

    # Part 3: the moderator projects the plenary and drives it.
    projector = await (await new_context(viewport=PROJECTOR)).new_page()
    await projector.goto(plenary_url)
    await expect(projector.locator("body")).to_contain_text("joint contact list")
    await assert_accessible(projector)
    await shot(projector, "day-plenary-rooms-1920", full_page=False)

    await moderator.locator("form.mod-views").get_by_role(
        "button", name="Ports and logistics").click()
    await expect(projector.locator("body")).to_contain_text("Room in the spotlight")
    await shot(projector, "day-plenary-spotlight-1920", full_page=False)

    await moderator.locator("#timer-minutes").fill("5")
    await moderator.locator("#timer-label").fill("Ports and logistics presents")
    await moderator.get_by_role("button", name="Start", exact=True).click()
    for page in (kari, eva, projector):
        await expect(page.locator("#broadcast .timer")).to_contain_text("presents")

    # Merge the same idea from two rooms.
    items = moderator.locator("li.mod-item")
    await items.filter(has_text="joint contact list for port authorities").locator(
        "input[type=checkbox]").check()
    await items.filter(has_text="port and municipal emergency").locator(
        "input[type=checkbox]").check()
    # The moderator first drags the wording box bigger (its re-render must not trip the CSP).
    await moderator.locator("#merge-text").evaluate("(el) => { el.style.height = '8em'; }")
    await moderator.locator("#merge-text").fill("One contact list for ports and municipalities")
    await moderator.get_by_role("button", name="Merge the ticked items").click()
    await expect(projector.locator("body")).to_contain_text(
        "One contact list for ports and municipalities")
    await expect(moderator.locator("body")).to_contain_text(
        "One contact list for ports and municipalities")

    # Lock one room: only that room closes; the other room's page stays writable.
    await moderator.locator("table.mod-rooms tr").filter(has_text="Ports and logistics").get_by_role(
        "button", name="Lock").click()
    await expect(kari.locator("#room-state .banner")).to_be_visible()
    await add_item(eva, "Still open: a drill with the fire service")
    await expect(eva.locator("#room-state .banner")).to_have_count(0)
    await expect(eva.locator("#item-text")).to_be_enabled()

    # Lock the rooms: every room says so and its forms close.
    await moderator.get_by_role("button", name="Lock all rooms").click()
    for page in (kari, eva):
        await expect(page.locator("#room-state .banner")).to_be_visible()
        await expect(page.locator("#item-text")).to_be_hidden()
    await assert_accessible(moderator)
    await shot(moderator, "day-moderator-laptop")
    await assert_accessible(kari)
    await shot(kari, "day-room-locked-laptop")

    # After the event: the organiser downloads every format.
    downloads = moderator.locator("#downloads")
    for fmt in DOWNLOADS:
        link = downloads.locator(f"a[href$='outcomes.{fmt}']")
        await expect(link).to_have_count(1)
        async with moderator.expect_download() as waiting:
            await link.click()
        got = await waiting.value
        assert got.suggested_filename.endswith(fmt.split(".")[-1]), got.suggested_filename
        path = await got.path()
        body = Path(path).read_bytes()  # noqa: ASYNC240 - a small local file, once
        assert len(body) > 20, fmt
        if fmt in ("json", "csv", "md"):
            assert b"One contact list for ports and municipalities" in body, fmt
    async with organiser_context.expect_page() as opened:
        await downloads.locator("a[href$='outcomes.html']").click()
    report = await opened.value
    await expect(report.locator("body")).to_contain_text("One contact list for ports")
    await shot(report, "day-report")

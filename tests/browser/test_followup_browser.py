"""Follow-up in real browsers: an owner's phone reports (also offline), the organiser's
follow-up page follows live, a stale report is settled as on the room page, and a
replaced link ends the owner's open page."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.async_api import BrowserContext, Page, expect

from tests.browser.conftest import PHONE, Problems, assert_accessible, shot
from tests.conftest import Server, auth
from tests.test_followup_api import after_the_event, open_followup

pytestmark = pytest.mark.browser


async def live_page(context: BrowserContext, url: str) -> Page:
    page = await context.new_page()
    await page.goto(url)
    await expect(page.locator("#sync")).to_have_attribute("data-state", "live")
    return page


def card(page: Page, action_id: str) -> Any:
    return page.locator(f"#progress-{action_id}")


async def report(page: Page, action_id: str, status: str, progress: str, note: str) -> None:
    form = card(page, action_id).locator("form")
    await form.get_by_label("Status").select_option(status)
    await form.get_by_label("Progress in per cent").fill(progress)
    await form.get_by_label("Note").fill(note)
    await form.get_by_role("button", name="Save").click()


async def test_an_owner_reports_from_a_phone_offline_and_the_organiser_sees_it_once(
    server: Server, client: httpx.AsyncClient, new_context: Any, problems: Problems
) -> None:
    problems.allow(r"http 409: POST .*/progress/", "the stale report, settled in the test")
    problems.allow(r"http 403: GET .*/e/\w+/o/\w+$", "another owner's page, refused on purpose")
    # GET when the page reloads; HEAD when its socket keeps failing and the page asks
    # whether it is still there (static/app.js checkPageStillThere).
    problems.allow(r"http 401: (GET|HEAD) .*/e/\w+/o/\w+$", "the replaced link, ended on purpose")
    # The replaced link's page may try its socket again before it learns the link ended.
    problems.allow(r"^console: WebSocket connection to \S+/e/\w+/o/\w+/live\S* failed: "
                   r"HTTP Authentication failed", "the replaced link's socket, refused on purpose")
    problems.allow(r"^console: \[object Event\]$", "htmx's wsError of that refused socket")
    ev, items = await after_the_event(client)
    owners = await open_followup(client, ev, [["Port of Bergen", "Port of Bergen."]])
    port = owners["Port of Bergen"]
    organiser = await new_context()
    await (await organiser.new_page()).goto(ev["moderator_url"])
    board = await live_page(organiser, f"/e/{ev['id']}/follow-up")
    phone = await new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = await live_page(phone, port["url"])
    # Exactly this owner's actions, and the page is usable with a screen reader.
    await expect(page.locator("li.progress-card")).to_have_count(3)
    for key in ("list", "drill", "plan"):
        await expect(card(page, items[key]["id"])).to_have_count(1)
    await assert_accessible(page)
    await shot(page, "followup-owner-phone")

    listed = items["list"]["id"]
    await phone.set_offline(True)
    await report(page, listed, "in_progress", "40", "Draft sent to the municipalities")
    await expect(card(page, listed)).to_have_class("entry progress-card pending")
    await expect(page.locator("#sync .sync-pending")).to_have_text("1 change not sent yet")
    await expect(board.locator("#fu-live")).not_to_contain_text("Draft sent")
    await phone.set_offline(False)
    await page.wait_for_function("() => window.facilitationOutbox.pending() === 0")
    await expect(card(page, listed)).to_have_attribute("data-version", "1")
    await expect(card(page, listed)).not_to_have_class("entry progress-card pending")
    # The organiser's page follows live, without a reload.
    row = board.locator(f"#fu-action-{listed}")
    await expect(row).to_contain_text("Draft sent to the municipalities")
    await expect(row).to_contain_text("In progress")
    await expect(row.locator(".fu-progress")).to_have_text("40 %")
    await shot(board, "followup-organiser")
    await assert_accessible(board)
    # Stored once: one report in the history.
    summary = (await client.get(f"/api/events/{ev['id']}/follow-up",
                                headers=auth(ev["organiser_token"]))).json()
    mine = next(a for a in summary["actions"] if a["id"] == listed)
    assert mine["version"] == 1 and mine["progress"] == 40

    # A report on a version someone else has since changed: settled as on the room page.
    await phone.set_offline(True)
    await report(page, listed, "in_progress", "60", "Two of five signed")
    moved = await client.patch(f"/api/events/{ev['id']}/progress/{listed}",
                               headers=auth(ev["organiser_token"]),
                               json={"version": 1, "due": "2099-12-31"})
    assert moved.status_code == 200
    await phone.set_offline(False)
    panel = page.locator("#outbox")
    await expect(panel).to_be_visible()
    await expect(panel).to_contain_text("after you opened it")
    await expect(card(page, listed)).to_have_attribute("data-version", "2")
    await panel.get_by_role("button", name="Apply mine to the saved version").click()
    await expect(panel).to_be_hidden()
    await expect(card(page, listed)).to_have_attribute("data-version", "3")
    await expect(board.locator(f"#fu-action-{listed}")).to_contain_text("Two of five signed")

    # Another owner's page does not open with this link.
    other = await phone.new_page()
    refused = await other.goto(f"/e/{ev['id']}/o/{owners['County Governor']['id']}")
    assert refused is not None and refused.status == 403

    # The organiser replaces the link: the open page ends and says so.
    await board.locator(f"form[action$='/owners/{port['id']}/token'] button").click()
    await expect(board.locator(".notice")).to_contain_text("The old one no longer works")
    await expect(page.locator("body")).to_contain_text("replaced the link", timeout=15_000)
    gone = await client.get(f"/api/events/{ev['id']}/owners/{port['id']}",
                            headers=auth(port["token"]))
    assert gone.status_code == 401

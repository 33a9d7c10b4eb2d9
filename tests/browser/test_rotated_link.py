"""A replaced link ends at once in a real browser: the open room page reloads (close code
4401) and says its link was replaced; the neighbour room's page stays live."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from tests.browser.conftest import Problems
from tests.browser.test_offline import enter
from tests.conftest import auth, new_event

pytestmark = pytest.mark.browser


async def test_an_open_room_page_learns_its_link_was_replaced(
    client: httpx.AsyncClient, new_context: Any, problems: Problems
) -> None:
    # GET when the page reloads; HEAD if its socket failed first and it asked whether it
    # is still there (static/app.js checkPageStillThere).
    problems.allow(r"^http 401: (GET|HEAD) \S+/r/[0-9a-f]+$",
                   "the old link's page says it was replaced")
    event = await new_event(client)
    room, neighbour = event["rooms"][0], event["rooms"][1]
    page = await enter(await new_context(), room, "Kari Nordmann")
    other = await enter(await new_context(), neighbour, "Ola Nordmann")
    rotated = await client.post(f"/api/events/{event['id']}/rooms/{room['id']}/token",
                                headers=auth(event["organiser_token"]))
    assert rotated.status_code == 200
    # The page reloads by itself and shows why, instead of reconnecting forever.
    await expect(page.locator("main.error-page")).to_be_visible()
    await expect(page.locator("main.error-page")).to_contain_text("replaced the link")
    await expect(other.locator("#sync")).to_have_attribute("data-state", "live")
    # The new link works in the same browser.
    fresh = next(r for r in rotated.json()["rooms"] if r["id"] == room["id"])
    await page.goto(fresh["join_url"])
    await expect(page.locator("#sync")).to_have_attribute("data-state", "live")

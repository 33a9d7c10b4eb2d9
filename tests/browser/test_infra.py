"""The browser harness itself: chromium starts, pages load under the real CSP, axe runs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.browser.conftest import assert_accessible, axe_violations, shot
from tests.conftest import Server, new_event

pytestmark = pytest.mark.browser


async def test_home_page_loads_and_passes_axe(server: Server, new_context: Any) -> None:
    context = await new_context()
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    answer = await page.goto("/")
    assert answer is not None and answer.status == 200
    assert await page.title()
    await assert_accessible(page)
    await shot(page, "home-laptop")
    assert errors == []


async def test_axe_finds_a_planted_violation(server: Server, new_context: Any) -> None:
    """The check is not vacuous: an image without alt text is a critical violation."""
    context = await new_context()
    page = await context.new_page()
    await page.goto("/")
    await page.evaluate(
        "() => { const i = document.createElement('img'); i.src = '/static/favicon.svg';"
        " document.querySelector('main').appendChild(i); }")
    found = {v["id"] for v in await axe_violations(page)}
    assert "image-alt" in found
    with pytest.raises(AssertionError):
        await assert_accessible(page)


async def test_join_link_opens_the_room_in_the_browser(
    server: Server, client: httpx.AsyncClient, new_context: Any
) -> None:
    event = await new_event(client)
    room = event["rooms"][0]
    context = await new_context()
    page = await context.new_page()
    await page.goto(room["join_url"])
    assert "t=" not in page.url
    await page.get_by_label("Your name").fill("Kari Nordmann")
    await page.get_by_role("button", name="Enter the room").click()
    await page.locator("#sync[data-state=live]").wait_for()
    await assert_accessible(page)

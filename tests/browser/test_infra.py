"""The browser harness itself: chromium starts, pages load under the real CSP, axe runs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.browser.conftest import Problems, assert_accessible, axe_violations, shot
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


async def test_the_harness_catches_console_page_csp_and_request_problems(
    server: Server, new_context: Any, problems: Problems
) -> None:
    """Each kind of problem a page can have is noticed, and would fail the test."""
    context = await new_context()
    page = await context.new_page()
    await page.goto("/")
    assert problems.take() == []
    # A console error (what htmx logs for an out-of-band swap with no target).
    await page.evaluate("() => console.error('htmx:oobErrorNoTarget planted')")
    # An uncaught error.
    await page.evaluate("() => { setTimeout(() => { throw new Error('planted failure'); }, 0); }")
    # An inline style set as an attribute: the CSP refuses it (htmx settling a copied style).
    await page.evaluate("() => document.querySelector('main').setAttribute('style', 'color: red')")
    # A request that fails, and one the server answers with an error.
    await page.evaluate("() => fetch('/static/no-such-file.js').catch(() => null)")
    await page.route("**/cut-off", lambda route: route.abort("connectionreset"))
    await page.evaluate("() => fetch('/cut-off').catch(() => null)")
    await page.wait_for_timeout(500)
    lines = problems.take()
    text = "\n".join(lines)
    assert any(line.startswith("console: htmx:oobErrorNoTarget planted") for line in lines), text
    assert any(line.startswith("page error:") and "planted failure" in line for line in lines), text
    assert any(line.startswith("csp:") and "style-src" in line for line in lines), text
    assert any(line.startswith("http 404: GET") and "no-such-file" in line for line in lines), text
    assert any(line.startswith("request failed: GET") and "/cut-off" in line for line in lines), text


async def test_allowed_problems_must_match_and_offline_ones_are_the_tests_own(
    server: Server, new_context: Any, problems: Problems
) -> None:
    context = await new_context()
    page = await context.new_page()
    await page.goto("/")
    problems.allow(r"^http 404: GET .*/expected-missing$", "this test asks for it")
    await page.evaluate("() => fetch('/expected-missing')")
    await page.evaluate("() => fetch('/unexpected-missing')")
    await page.wait_for_timeout(300)
    assert [line for line in problems.unexpected() if "expected-missing" in line] == [
        f"http 404: GET {server.url}/unexpected-missing"]
    await context.set_offline(True)
    await page.evaluate("() => fetch('/while-offline').catch(() => null)")
    await context.set_offline(False)
    await page.wait_for_timeout(300)
    assert not [line for line in problems.unexpected() if "while-offline" in line]
    assert any("while-offline" in line for line, _ in problems.seen)
    problems.take()

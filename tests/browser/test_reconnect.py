"""The room page always comes back: whatever close code its socket gets, across a
server restart, after the network returns; and when the server cannot replay onto
its board, it reloads rather than show a wrong one (static/app.js)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import Problems
from tests.browser.test_offline import enter, items
from tests.conftest import Server, auth, free_port, make_settings, new_event, open_sockets

pytestmark = pytest.mark.browser


async def page_sockets(server: Server, event: dict[str, Any], room: dict[str, Any]) -> list[Any]:
    return [s for s in await open_sockets(server, event["id"])
            if s.view.startswith(f"room:{room['id']}")]


async def one_socket(server: Server, event: dict[str, Any], room: dict[str, Any]) -> Any:
    for _ in range(200):
        found = await page_sockets(server, event, room)
        if len(found) == 1:
            return found[0]
        await asyncio.sleep(0.05)
    found = await page_sockets(server, event, room)
    raise AssertionError(f"expected one socket for the page, found {len(found)}")


async def arrives(page: Page, client: httpx.AsyncClient, event: dict[str, Any],
                  room: dict[str, Any], text: str) -> None:
    answer = await client.post(f"/api/events/{event['id']}/rooms/{room['id']}/items",
                               json={"id": str(uuid.uuid4()), "text": text},
                               headers=auth(room["join_token"]))
    assert answer.status_code == 201
    await expect(items(page, text)).to_have_count(1)


async def test_the_page_reconnects_whatever_the_close_code(
    server: Server, client: httpx.AsyncClient, new_context: Any
) -> None:
    event = await new_event(client)
    room = event["rooms"][0]
    page = await enter(await new_context(), room, "Kari Nordmann")
    for code in (1000, 1001, 1008, 1011, 1012, 1013):
        socket = await one_socket(server, event, room)
        socket.close(f"test close {code}", code)
        # A new socket replaces it (never two), and the page is live again...
        for _ in range(200):
            found = await page_sockets(server, event, room)
            if found and found[0] is not socket:
                break
            await asyncio.sleep(0.05)
        assert (await one_socket(server, event, room)) is not socket, f"no reconnect after {code}"
        await expect(page.locator("#sync")).to_have_attribute("data-state", "live")
        # ...and sees what happens next, once.
        await arrives(page, client, event, room, f"After close {code}")
    # The network goes and comes back: the page replaces its socket at once.
    before = await one_socket(server, event, room)
    await page.context.set_offline(True)
    await expect(page.locator("#sync")).to_have_attribute("data-state", "offline")
    await page.context.set_offline(False)
    await expect(page.locator("#sync")).to_have_attribute("data-state", "live")
    assert (await one_socket(server, event, room)) is not before
    await arrives(page, client, event, room, "After the network came back")


async def test_the_page_comes_back_after_a_server_restart(
    tmp_path: Path, new_context: Any, problems: Problems
) -> None:
    # While the server is down, the page's reconnects are refused (and htmx logs each).
    problems.allow(r"^console: WebSocket connection to \S+ failed: .*ERR_CONNECTION_REFUSED",
                   "the server is down")
    problems.allow(r"^console: \[object Event\]$", "htmx's wsError of those refused sockets")
    port = free_port()
    settings = make_settings(tmp_path, port)
    running = await Server(settings).start()
    async with httpx.AsyncClient(base_url=running.url) as client:
        event = await new_event(client)
    room = event["rooms"][0]
    context = await new_context()  # the join link is absolute: this server
    page = await enter(context, room, "Kari Nordmann")
    await running.stop()  # sockets closed with 1012 ("service restart")
    await expect(page.locator("#sync")).to_have_attribute("data-state", "reconnecting")
    running = await Server(settings).start()
    try:
        await expect(page.locator("#sync")).to_have_attribute("data-state", "live",
                                                             timeout=20_000)
        async with httpx.AsyncClient(base_url=running.url) as client:
            await arrives(page, client, event, room, "After the restart")
    finally:
        await running.stop()


async def test_a_page_the_server_cannot_replay_onto_reloads(
    server: Server, client: httpx.AsyncClient, new_context: Any
) -> None:
    event = await new_event(client)
    room = event["rooms"][1]
    page = await enter(await new_context(), room, "Kari Nordmann")
    # As if this page had seen more than the store holds (the store was reset).
    await page.evaluate("""() => {
        window.beforeReload = true;
        document.getElementById('sync-seq').setAttribute('data-seq', '99999');
    }""")
    (await one_socket(server, event, room)).close("test restart", 1012)
    await page.wait_for_function("() => window.beforeReload === undefined")  # reloaded
    await expect(page.locator("#sync")).to_have_attribute("data-state", "live")
    seq = await page.locator("#sync-seq").get_attribute("data-seq")
    assert seq is not None and int(seq) < 99999
    await arrives(page, client, event, room, "After the reload")


async def test_a_half_open_link_is_noticed_and_what_was_typed_into_it_arrives(
    tmp_path: Path, new_context: Any
) -> None:
    """Wi-Fi gone without a FIN or RST: the socket still says "open" and a request just
    hangs. The page notices the silence (the server's heartbeat stopped arriving), says
    so, keeps what was typed, and sends it once the link is back."""
    from tests.faults.proxy import Proxy

    port = free_port()
    running = await Server(make_settings(tmp_path, port, heartbeat_seconds=1.0)).start()
    proxy = await Proxy(port).start()
    page = None
    try:
        async with httpx.AsyncClient(base_url=running.url) as client:
            event = await new_event(client)
            room = event["rooms"][0]
            # The page is served through the proxy: its every byte crosses the bad link.
            through = dict(room, join_url=room["join_url"].replace(f":{port}/", f":{proxy.port}/"))
            page = await enter(await new_context(), through, "Kari Nordmann")
            proxy.blackhole = True
            await expect(page.locator("#sync")).not_to_have_attribute(
                "data-state", "live", timeout=20_000)
            await page.locator("#item-text").fill("Typed into a dead link")
            await page.locator("#item-form button[type=submit]").click()
            await expect(items(page, "Typed into a dead link")).to_have_class("entry item pending")
            proxy.heal()
            await expect(page.locator("#sync")).to_have_attribute("data-state", "live",
                                                                 timeout=20_000)
            await page.wait_for_function("() => window.facilitationOutbox.pending() === 0",
                                         timeout=40_000)
            await expect(items(page, "Typed into a dead link")).to_have_count(1)
            stored = await client.get(f"/api/events/{event['id']}/rooms/{room['id']}",
                                      headers=auth(room["join_token"]))
            assert [i["text"] for i in stored.json()["items"]] == ["Typed into a dead link"]
    finally:
        # The page goes first: left open, its reconnects to the stopped proxy are refused
        # after the test, and the browser fixture rightly counts those as problems.
        if page is not None:
            await page.close()
        await proxy.stop()
        await running.stop()

"""The room page: token link to session, name, server-rendered board, forms, live fragments."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import httpx
from websockets.asyncio.client import connect

from facilitation import i18n
from tests.conftest import Server, auth, item_body


async def join(server: Server, room: dict[str, Any], name: str = "Kari Nordmann",
               org: str = "Vestland") -> httpx.AsyncClient:
    """A browser-like client that opened the room's link and gave its name."""
    browser = httpx.AsyncClient(base_url=server.url, timeout=20, headers={"origin": server.url})
    opened = await browser.get(room["join_url"])
    assert opened.status_code == 303
    clean = opened.headers["location"]
    assert "t=" not in clean and clean.endswith(room["id"])
    cookie = opened.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    asked = await browser.get(clean)
    assert asked.status_code == 200 and 'name="name"' in asked.text
    named = await browser.post(f"{clean}/name", data={"name": name, "org": org})
    assert named.status_code == 303
    return browser


def room_path(event: dict[str, Any], room: dict[str, Any]) -> str:
    return f"/e/{event['id']}/r/{room['id']}"


async def test_room_page_renders_the_board_on_first_load(
    server: Server, client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    room = event["rooms"][0]
    api = f"/api/events/{event['id']}/rooms/{room['id']}"
    hostile = '<script>alert(1)</script><img src=x onerror=alert(2)> hx-on:click="x"'
    await client.post(f"{api}/items", json=item_body(hostile, owner="Kommune"),
                      headers=auth(room["join_token"]))
    await client.post(f"{api}/roles", json={"id": str(uuid.uuid4()), "actor": "Fylke",
                      "role": "Coordinator"}, headers=auth(room["join_token"]))
    browser = await join(server, room)
    page = await browser.get(room_path(event, room))
    assert page.status_code == 200
    html = page.text
    assert room["name"] in html and room["prompt"] in html
    assert "Kari Nordmann" in html and "Kommune" in html and "Fylke" in html
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'hx-on:click="x"' not in html
    assert "ws-connect=" in html
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    # No token of any kind in the page a participant can read.
    for token in [event["organiser_token"], event["plenary_token"]] + [
            r["join_token"] for r in event["rooms"]]:
        assert token not in html
    await browser.aclose()


async def test_room_page_shows_each_entry_as_it_stands_now(
    server: Server, client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    """Rendered entries are reused across loads: an edit, a renamed plan goal and
    another language must each show on the next load all the same."""
    room = event["rooms"][2]
    api = f"/api/events/{event['id']}/rooms/{room['id']}"
    goal = event["goals"][0]
    made = await client.post(f"{api}/items", json={**item_body("Shared map", owner="Fylke"),
                             "goals": [goal["id"]]}, headers=auth(room["join_token"]))
    item = made.json()
    browser = await join(server, room)
    first = (await browser.get(room_path(event, room))).text
    assert "Shared map" in first and goal["text"] in first and "Proposed" in first

    await client.patch(f"{api}/items/{item['id']}", json={"text": "Shared map, v2",
                       "version": item["version"]}, headers=auth(room["join_token"]))
    goals = [{"id": g["id"], "text": g["text"]} for g in event["goals"]]
    goals[0]["text"] = "A common operating picture"
    renamed = await client.patch(f"/api/events/{event['id']}", json={"goals": goals},
                                 headers=auth(event["organiser_token"]))
    assert renamed.status_code == 200, renamed.text
    again = (await browser.get(room_path(event, room))).text
    assert "Shared map, v2" in again and "A common operating picture" in again
    assert goal["text"] not in again

    browser.cookies.set(i18n.COOKIE, "nb")
    norsk = (await browser.get(room_path(event, room))).text
    assert "Foreslått" in norsk and "Proposed" not in norsk
    await browser.aclose()


async def test_page_without_link_is_a_friendly_401(server: Server, event: dict[str, Any]) -> None:
    async with httpx.AsyncClient(base_url=server.url) as stranger:
        page = await stranger.get(room_path(event, event["rooms"][0]))
    assert page.status_code == 401
    assert "text/html" in page.headers["content-type"]
    assert "link" in page.text


async def test_forms_add_edit_and_delete_with_htmx_fragments(
    server: Server, event: dict[str, Any]
) -> None:
    room = event["rooms"][1]
    browser = await join(server, room)
    base = room_path(event, room)
    hx = {"hx-request": "true"}
    item_id = str(uuid.uuid4())
    created = await browser.post(f"{base}/items", headers=hx, data={
        "id": item_id, "text": "Joint exercise with the port", "owner": "Port", "due": "",
        "goals": [event["goals"][2]["id"]]})
    assert created.status_code == 201, created.text
    assert f'id="item-{item_id}"' in created.text and 'hx-swap-oob="true"' in created.text
    assert 'id="item-form"' in created.text  # a fresh form with a new id
    assert "Kari Nordmann (Vestland)" in created.text
    # A double submit of the same form stores it once.
    again = await browser.post(f"{base}/items", headers=hx, data={
        "id": item_id, "text": "Joint exercise with the port", "owner": "Port", "due": "",
        "goals": [event["goals"][2]["id"]]})
    assert again.status_code == 200
    agreed = await browser.post(f"{base}/items/{item_id}", headers=hx,
                                data={"version": "1", "status": "agreed"})
    assert agreed.status_code == 200 and 'data-status="agreed"' in agreed.text
    form = await browser.get(f"{base}/items/{item_id}/edit", headers=hx)
    assert 'name="version" value="2"' in form.text
    stale = await browser.post(f"{base}/items/{item_id}", headers=hx, data={
        "version": "1", "edit": "1", "text": "My older edit", "owner": "", "due": ""})
    assert stale.status_code == 409
    assert "Someone changed this item" in stale.text and "My older edit" in stale.text
    deleted = await browser.post(f"{base}/items/{item_id}/delete", headers=hx)
    assert deleted.status_code == 200 and 'hx-swap-oob="delete"' in deleted.text
    page = await browser.get(base)
    assert "Joint exercise with the port" not in page.text
    bad = await browser.post(f"{base}/items", headers=hx, data={"id": str(uuid.uuid4()), "text": ""})
    assert bad.status_code == 422 and "form-error" in bad.text
    await browser.aclose()


async def test_form_posts_from_another_site_are_refused(server: Server, event: dict[str, Any]) -> None:
    room = event["rooms"][2]
    browser = await join(server, room)
    base = room_path(event, room)
    forged = await browser.post(f"{base}/items", data={"id": str(uuid.uuid4()), "text": "forged"},
                                headers={"origin": "https://evil.example"})
    assert forged.status_code == 403
    page = await browser.get(base)
    assert "forged" not in page.text
    await browser.aclose()


async def test_page_socket_pushes_fragments_and_resumes_after_seq(
    server: Server, client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    room, other = event["rooms"][3], event["rooms"][4]
    browser = await join(server, room)
    cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
    page = await browser.get(room_path(event, room))
    seq = int(re.search(r'id="sync-seq" data-seq="(\d+)"', page.text).group(1))  # type: ignore[union-attr]
    url = f"{server.ws_url}{room_path(event, room)}/live?after={seq}"
    headers = {"cookie": cookie, "origin": server.url}
    async with connect(url, additional_headers=headers) as ws:
        api = f"/api/events/{event['id']}/rooms"
        mine = item_body("Visible <b>here</b>")
        await client.post(f"{api}/{other['id']}/items", json=item_body("Not for this room"),
                          headers=auth(other["join_token"]))
        await client.post(f"{api}/{room['id']}/items", json=mine, headers=auth(room["join_token"]))
        frame = str(await asyncio.wait_for(ws.recv(), 5))
        assert f'id="item-{mine["id"]}"' in frame and "Visible &lt;b&gt;here&lt;/b&gt;" in frame
        assert "Not for this room" not in frame
        marker = int(re.search(r'data-seq="(\d+)"', frame).group(1))  # type: ignore[union-attr]
        assert marker > seq
    # Reconnecting from the marker replays nothing twice.
    async with connect(f"{server.ws_url}{room_path(event, room)}/live?after={marker}",
                       additional_headers=headers) as ws:
        try:
            extra = await asyncio.wait_for(ws.recv(), 0.3)
            raise AssertionError(f"replayed twice: {extra!r}")
        except TimeoutError:
            pass
    # A cross-site handshake with a valid cookie is refused.
    import websockets

    try:
        async with connect(url, additional_headers={"cookie": cookie, "origin": "https://evil.example"}):
            raise AssertionError("cross-site socket accepted")
    except websockets.InvalidStatus as refused:
        assert refused.response.status_code == 403
    await browser.aclose()

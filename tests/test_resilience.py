"""Epochs, reset frames, page heartbeats and resends: what lets every screen converge
on the right board after a network blip, a restart or a store that was reset."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import connect

from tests.conftest import Server, auth, free_port, item_body, make_settings, new_event
from tests.test_room_page import join, room_path
from tests.test_stream import collect, nothing_more, stream_url


async def test_event_and_room_answers_carry_the_epoch(
    client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    epoch = event["epoch"]
    assert re.fullmatch(r"[0-9a-f]{16}", epoch)
    room = event["rooms"][0]
    answer = await client.get(f"/api/events/{event['id']}/rooms/{room['id']}",
                              headers=auth(room["join_token"]))
    assert answer.json()["epoch"] == epoch
    other = await new_event(client)
    assert other["epoch"] != epoch


async def test_a_stream_client_from_another_epoch_is_told_to_reload(
    server: Server, event: dict[str, Any]
) -> None:
    token = auth(event["plenary_token"])
    url = stream_url(server, event["id"]) + "&epoch=0123456789abcdef"
    async with connect(url, additional_headers=token) as ws:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert frame == {"type": "reset", "seq": 1, "epoch": event["epoch"]}
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
    assert ws.close_code == 1008
    # The right epoch streams as usual.
    async with connect(stream_url(server, event["id"]) + f"&epoch={event['epoch']}",
                       additional_headers=token) as ws:
        assert (await collect(ws, 1))[0]["type"] == "event.created"
        assert await nothing_more(ws)


async def test_a_client_that_saw_more_than_the_store_holds_is_told_to_reload(
    server: Server, event: dict[str, Any]
) -> None:
    async with connect(stream_url(server, event["id"], after=5000),
                       additional_headers=auth(event["plenary_token"])) as ws:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert frame["type"] == "reset" and frame["seq"] == 1
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
    assert ws.close_code == 1008


async def test_a_malformed_epoch_is_refused(server: Server, event: dict[str, Any]) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with connect(stream_url(server, event["id"]) + "&epoch=%3Cscript%3E",
                           additional_headers=auth(event["plenary_token"])):
            pass
    assert refused.value.response.status_code == 400


async def test_the_room_page_carries_its_epoch_and_a_page_from_another_is_reloaded(
    server: Server, event: dict[str, Any]
) -> None:
    room = event["rooms"][0]
    browser = await join(server, room)
    page = (await browser.get(room_path(event, room))).text
    assert f"epoch={event['epoch']}" in page
    assert 'data-outbox="create"' in page and 'id="outbox"' in page
    cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
    headers = {"cookie": cookie, "origin": server.url}
    url = f"{server.ws_url}{room_path(event, room)}/live?after=1&epoch=fedcba9876543210"
    async with connect(url, additional_headers=headers) as ws:
        frame = str(await asyncio.wait_for(ws.recv(), 5))
        assert 'id="sync-reload"' in frame and 'data-reload="1"' in frame
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
    await browser.aclose()


@pytest.fixture
async def quick_heartbeat(tmp_path: Path) -> AsyncIterator[Server]:
    port = free_port()
    running = await Server(make_settings(tmp_path, port, heartbeat_seconds=0.3)).start()
    yield running
    await running.stop()


async def test_a_quiet_page_socket_gets_heartbeats_and_an_api_stream_does_not(
    quick_heartbeat: Server,
) -> None:
    server = quick_heartbeat
    async with httpx.AsyncClient(base_url=server.url) as http:
        event = await new_event(http)
        room = event["rooms"][0]
        browser = await join(server, room)
        cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
        headers = {"cookie": cookie, "origin": server.url}
        async with connect(f"{server.ws_url}{room_path(event, room)}/live?after=1",
                           additional_headers=headers) as ws:
            beats = [str(await asyncio.wait_for(ws.recv(), 5)) for _ in range(2)]
            # The page's own resume marker, unchanged: harmless to swap in again.
            assert all('id="sync-seq"' in b and 'data-seq="1"' in b for b in beats)
            await http.post(f"/api/events/{event['id']}/rooms/{room['id']}/items",
                            json=item_body("After the quiet"), headers=auth(room["join_token"]))
            frame = str(await asyncio.wait_for(ws.recv(), 5))
            while "After the quiet" not in frame:
                frame = str(await asyncio.wait_for(ws.recv(), 5))
            beat = str(await asyncio.wait_for(ws.recv(), 5))
            assert 'data-seq="2"' in beat  # the marker moved on with the change
        async with connect(stream_url(server, event["id"], after=2),
                           additional_headers=auth(event["plenary_token"])) as ws:
            assert await nothing_more(ws, wait=1.0)  # the API contract has no such frame
        await browser.aclose()


async def test_a_resent_create_shows_the_entry_as_it_stands_now(
    server: Server, client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    """A page's outbox resends after a reconnect; the answer must not resurrect an
    entry deleted (or undo an edit made) since it was first stored."""
    room = event["rooms"][1]
    browser = await join(server, room)
    base = room_path(event, room)
    hx = {"hx-request": "true"}
    form = {"id": str(uuid.uuid4()), "text": "Stored once", "owner": "", "due": ""}
    assert (await browser.post(f"{base}/items", headers=hx, data=form)).status_code == 201
    api = f"/api/events/{event['id']}/rooms/{room['id']}/items/{form['id']}"
    edited = await client.patch(api, json={"version": 1, "text": "Edited since"},
                                headers=auth(room["join_token"]))
    assert edited.status_code == 200
    again = await browser.post(f"{base}/items", headers=hx, data=form)
    assert again.status_code == 200
    assert "Edited since" in again.text and 'data-version="2"' in again.text
    assert (await client.delete(api, headers=auth(room["join_token"]))).status_code == 204
    gone = await browser.post(f"{base}/items", headers=hx, data=form)
    assert gone.status_code == 200
    assert f'<li id="item-{form["id"]}" hx-swap-oob="delete">' in gone.text
    assert "Stored once" not in gone.text
    await browser.aclose()

"""What a room's link sees beyond its room: on its page socket and on the API stream.

A room's state (its entries, its lock, its own part of an event edit) reaches only that
room's pages; event-wide state (the event, every room's lock flag, the plenary, the
timer, the message, votes, joint actions) reaches everyone; a token reaches nobody.
README, "API", "What a join token sees" is the rule these tests hold.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import Server, auth, item_body
from tests.test_room_page import join, room_path

# The frames a join token's stream carries that are not its room's own (room None).
EVENT_WIDE = {"event", "room", "merge", "vote", "plenary", "timer", "message", "access", "progress"}


async def frames_until(ws: ClientConnection, sentinel: str, wait: float = 15) -> list[str]:
    """Every frame up to and including the first that contains ``sentinel``."""
    got: list[str] = []

    async def read() -> None:
        while not got or sentinel not in got[-1]:
            got.append(str(await ws.recv()))

    await asyncio.wait_for(read(), wait)
    return got


async def page_socket(server: Server, event: dict[str, Any], room: dict[str, Any]) -> Any:
    browser = await join(server, room)
    page = await browser.get(room_path(event, room))
    seq = re.search(r'id="sync-seq" data-seq="(\d+)"', page.text)
    assert seq is not None
    cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
    url = f"{server.ws_url}{room_path(event, room)}/live?after={seq.group(1)}"
    return browser, connect(url, additional_headers={"cookie": cookie, "origin": server.url})


async def test_another_rooms_lock_entries_and_edits_never_reach_this_rooms_page(
    server: Server, client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    mine, other = event["rooms"][0], event["rooms"][1]
    organiser = auth(event["organiser_token"])
    api = f"/api/events/{event['id']}"
    browser, socket = await page_socket(server, event, mine)
    async with socket as ws:
        theirs = item_body("Only for the other room")
        assert (await client.post(f"{api}/rooms/{other['id']}/items", json=theirs,
                                  headers=auth(other["join_token"]))).status_code == 201
        assert (await client.post(f"{api}/rooms/{other['id']}/lock",
                                  headers=organiser)).status_code == 200
        rooms = [{"id": r["id"], "name": r["name"],
                  "prompt": "A new question there?" if r["id"] == other["id"] else r["prompt"]}
                 for r in event["rooms"]]
        assert (await client.patch(api, json={"rooms": rooms}, headers=organiser)).status_code == 200
        sentinel = item_body("Mine, after all that")
        assert (await client.post(f"{api}/rooms/{mine['id']}/items", json=sentinel,
                                  headers=auth(mine["join_token"]))).status_code == 201
        frames = "".join(await frames_until(ws, sentinel["id"]))
        # The other room's lock: no closed state here (#room-state has no room in its id).
        assert 'id="room-state"' not in frames
        assert "closed for changes" not in frames
        assert theirs["id"] not in frames and "Only for the other room" not in frames
        assert "A new question there?" not in frames
        # This room's own lock does reach it, and closes it.
        assert (await client.post(f"{api}/rooms/{mine['id']}/lock",
                                  headers=organiser)).status_code == 200
        own = "".join(await frames_until(ws, 'id="room-state"'))
        assert 'data-locked="true"' in own
        # Unlocking the other room says nothing here either.
        assert (await client.delete(f"{api}/rooms/{other['id']}/lock",
                                    headers=organiser)).status_code == 200
        assert (await client.delete(f"{api}/rooms/{mine['id']}/lock",
                                    headers=organiser)).status_code == 200
        last = "".join(await frames_until(ws, 'data-locked="false"'))
        assert last.count('id="room-state"') == 1
    await browser.aclose()


def tokens_of(event: dict[str, Any]) -> list[str]:
    found = [event["organiser_token"], event["plenary_token"]]
    return found + [room["join_token"] for room in event["rooms"]]


async def test_a_join_tokens_stream_sees_its_room_and_the_event_never_another_room_or_a_token(
    server: Server, client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    mine, other = event["rooms"][0], event["rooms"][1]
    organiser = auth(event["organiser_token"])
    api = f"/api/events/{event['id']}"
    seq = (await client.get(api, headers=organiser)).json()["seq"]
    url = f"{server.ws_url}{api}/stream?after={seq}"
    async with connect(url, additional_headers=auth(mine["join_token"])) as ws:
        here = item_body("Ours")
        there = item_body("Theirs")
        assert (await client.post(f"{api}/rooms/{mine['id']}/items", json=here,
                                  headers=auth(mine["join_token"]))).status_code == 201
        assert (await client.post(f"{api}/rooms/{other['id']}/items", json=there,
                                  headers=auth(other["join_token"]))).status_code == 201
        role = {"id": str(uuid.uuid4()), "actor": "Port authority", "role": "lead"}
        assert (await client.post(f"{api}/rooms/{other['id']}/roles", json=role,
                                  headers=auth(other["join_token"]))).status_code == 201
        assert (await client.patch(f"{api}/rooms/{other['id']}/items/{there['id']}",
                                   json={"version": 1, "text": "Theirs, edited"},
                                   headers=auth(other["join_token"]))).status_code == 200
        gone = item_body("Theirs, deleted")
        assert (await client.post(f"{api}/rooms/{other['id']}/items", json=gone,
                                  headers=auth(other["join_token"]))).status_code == 201
        assert (await client.delete(f"{api}/rooms/{other['id']}/items/{gone['id']}",
                                    headers=auth(other["join_token"]))).status_code == 204
        # Event-wide: a lock, a joint action of both rooms, the plenary, timer and message.
        assert (await client.post(f"{api}/rooms/{other['id']}/lock",
                                  headers=organiser)).status_code == 200
        merge = {"id": str(uuid.uuid4()), "items": [here["id"], there["id"]], "text": "Joint"}
        assert (await client.post(f"{api}/merges", json=merge, headers=organiser)).status_code == 201
        assert (await client.patch(f"{api}/plenary", json={"voting": True},
                                   headers=organiser)).status_code == 200
        assert (await client.put(f"{api}/timer", json={"seconds": 60},
                                 headers=organiser)).status_code == 200
        assert (await client.put(f"{api}/message", json={"text": "Coffee"},
                                 headers=organiser)).status_code == 200
        # Tokens rotated: the other room's and the plenary's (new tokens, never streamed).
        rotated = (await client.post(f"{api}/rooms/{other['id']}/token", headers=organiser)).json()
        plenary = (await client.post(f"{api}/plenary/token", headers=organiser)).json()
        last = item_body("The last one here")
        assert (await client.post(f"{api}/rooms/{mine['id']}/items", json=last,
                                  headers=auth(mine["join_token"]))).status_code == 201
        raw = await frames_until(ws, last["id"])
    frames = [json.loads(text) for text in raw]
    for frame in frames:
        kind = frame["type"].split(".")[0]
        assert frame["room"] in (mine["id"], None), frame
        if frame["room"] is None:
            assert kind in EVENT_WIDE, frame
    assert not [f for f in frames if f["type"].startswith(("item.", "role."))
                and f["room"] != mine["id"]]
    text = "\n".join(raw)
    assert "Theirs, edited" not in text and role["id"] not in text and gone["id"] not in text
    for token in tokens_of(event) + tokens_of(rotated) + tokens_of(plenary):
        assert token not in text
    kinds = {f["type"].split(".")[0] for f in frames}
    assert {"item", "room", "merge", "plenary", "timer", "message", "access"} <= kinds
    # The room's lock flag of another room is event-wide, as in GET /api/events/{event}.
    assert any(f["type"].startswith("room.") and f["data"]["id"] == other["id"] for f in frames)
    # What the stream says of joint actions, GET …/merges says to the same token.
    streamed = {f["data"]["id"]: f["data"] for f in frames if f["type"].startswith("merge.")}
    listed = await client.get(f"{api}/merges", headers=auth(mine["join_token"]))
    assert listed.status_code == 200, listed.text
    assert {m["id"]: m["text"] for m in listed.json()} == {
        k: v["text"] for k, v in streamed.items()}


async def test_a_join_tokens_room_page_carries_no_token(
    server: Server, client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    mine = event["rooms"][0]
    api = f"/api/events/{event['id']}"
    assert (await client.put(f"{api}/message", json={"text": "Welcome"},
                             headers=auth(event["organiser_token"]))).status_code == 200
    browser = await join(server, mine)
    page = (await browser.get(room_path(event, mine))).text
    assert "Welcome" in page
    for token in tokens_of(event):
        assert token not in page
    await browser.aclose()

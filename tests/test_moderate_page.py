"""The moderator page, votes from the room page, presence, and the log of moderator actions."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from typing import Any

import httpx
from websockets.asyncio.client import connect

from tests.conftest import Server, auth, item_body, new_event
from tests.test_plenary_page import cookie_of, opened, seed
from tests.test_room_page import join, room_path
from tests.test_stream import stream_url

HX = {"hx-request": "true"}


async def test_only_the_organiser_opens_the_moderator_page(
    server: Server, event: dict[str, Any]
) -> None:
    moderator = await opened(server, event["moderator_url"])
    page = await moderator.get(f"/e/{event['id']}/moderate")
    assert page.status_code == 200
    for words in ("The plenary board shows", "Lock all rooms", "Merge duplicates",
                  "Countdown and message", "Event settings"):
        assert words in page.text
    for room in event["rooms"]:
        assert room["name"] in page.text
    plenary = await opened(server, event["plenary_url"])
    assert (await plenary.get(f"/e/{event['id']}/moderate")).status_code == 403
    assert (await plenary.post(f"/e/{event['id']}/moderate/lock",
                               data={"room": "all", "locked": "1"})).status_code == 403
    participant = await join(server, event["rooms"][0])
    assert (await participant.post(f"/e/{event['id']}/moderate/plenary",
                                   data={"view": "goals"})).status_code == 403
    forged = await moderator.post(f"/e/{event['id']}/moderate/lock", data={
        "room": "all", "locked": "1"}, headers={"origin": "https://evil.example"})
    assert forged.status_code == 403
    for browser in (moderator, plenary, participant):
        await browser.aclose()


async def test_moderator_controls_change_the_board_and_the_rooms(
    server: Server, client: httpx.AsyncClient
) -> None:
    event = await new_event(client)
    made = await seed(client, event)
    moderator = await opened(server, event["moderator_url"])
    base = f"/e/{event['id']}/moderate"
    room = event["rooms"][1]
    state = f"/api/events/{event['id']}/plenary"
    organiser = auth(event["organiser_token"])

    # Views and spotlight: the htmx answer is the live region, pressed on the new view.
    answer = await moderator.post(f"{base}/plenary", data={"view": "goals"}, headers=HX)
    assert answer.status_code == 200 and 'id="mod-live"' in answer.text
    assert re.search(r'value="goals" aria-pressed="true"', answer.text)
    await moderator.post(f"{base}/plenary", data={"view": "spotlight", "spotlight": room["id"]})
    plenary = (await client.get(state, headers=organiser)).json()["plenary"]
    assert plenary["view"] == "spotlight" and plenary["spotlight"] == room["id"]
    bad = await moderator.post(f"{base}/plenary", data={"view": "nonsense"}, headers=HX)
    assert bad.status_code == 422

    # Timer and message show in the rooms.
    await moderator.post(f"{base}/timer", data={"minutes": "3", "label": "Room 2 presents"})
    await moderator.post(f"{base}/message", data={"text": "Plenary starts now"})
    participant = await join(server, room)
    page = await participant.get(room_path(event, room))
    assert "Plenary starts now" in page.text and "Room 2 presents" in page.text
    assert "data-ends-at=" in page.text
    bad_timer = await moderator.post(f"{base}/timer", data={"minutes": "soon"}, headers=HX)
    assert bad_timer.status_code == 422

    # Lock from the page: the room page says it is closed and its forms refuse.
    await moderator.post(f"{base}/lock", data={"room": room["id"], "locked": "1"})
    page = await participant.get(room_path(event, room))
    assert 'data-locked="true"' in page.text and "closed" in page.text
    refused = await participant.post(f"{room_path(event, room)}/items", headers=HX,
                                     data={"id": str(uuid.uuid4()), "text": "Too late"})
    assert refused.status_code == 423

    # Tag to a goal and mark agreed, although the room is locked.
    item = made[room["id"]][0]
    goal = event["goals"][2]["id"]
    await moderator.post(f"{base}/items/{item['id']}", data={"goal": goal})
    await moderator.post(f"{base}/items/{item['id']}", data={"status": "agreed"})
    room_api = f"/api/events/{event['id']}/rooms/{room['id']}"
    now = (await client.get(room_api, headers=organiser)).json()["items"][0]
    assert goal in now["goals"] and now["status"] == "agreed"
    await moderator.post(f"{base}/items/{item['id']}", data={"goal": goal})  # toggles off
    now = (await client.get(room_api, headers=organiser)).json()["items"][0]
    assert goal not in now["goals"]

    # Merge two items of two rooms from the page's form; the answer has a fresh form id.
    first, second = made[event["rooms"][0]["id"]][0], made[event["rooms"][4]["id"]][0]
    merge_id = str(uuid.uuid4())
    answer = await moderator.post(f"{base}/merges", headers=HX, data={
        "id": merge_id, "items": [first["id"], second["id"]], "text": "A shared picture"})
    assert answer.status_code == 200 and 'id="merge-form"' in answer.text
    assert merge_id not in re.search(r'<form id="merge-form".*?</form>', answer.text,
                                     re.S).group(0)  # type: ignore[union-attr]
    assert "Joint actions" in answer.text and "A shared picture" in answer.text
    merges = (await client.get(f"/api/events/{event['id']}/merges", headers=organiser)).json()
    assert [m["id"] for m in merges] == [merge_id]
    assert merges[0]["rooms"] == [event["rooms"][0]["id"], event["rooms"][4]["id"]]

    # Event settings: rename, add a room and a goal.
    form: dict[str, Any] = {"title": "Renamed event", "room_id": [], "room_name": [],
                            "room_prompt": [], "goal_id": [], "goal_text": []}
    for r in event["rooms"] + [{"id": "", "name": "Room seven", "prompt": "New question?"}]:
        form["room_id"].append(r["id"])
        form["room_name"].append(r["name"])
        form["room_prompt"].append(r["prompt"])
    for g in event["goals"] + [{"id": "", "text": "Informed citizens"}]:
        form["goal_id"].append(g["id"])
        form["goal_text"].append(g["text"])
    saved = await moderator.post(f"{base}/event", data=form)
    assert saved.status_code == 303
    shown = (await client.get(f"/api/events/{event['id']}", headers=organiser)).json()
    assert shown["title"] == "Renamed event" and shown["rooms"][-1]["name"] == "Room seven"
    assert shown["rooms"][-1]["join_token"] and shown["goals"][-1]["text"] == "Informed citizens"
    for browser in (moderator, participant):
        await browser.aclose()


async def test_votes_one_per_person_per_action_within_the_budget(
    server: Server, client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    made = await seed(client, event)
    organiser = auth(event["organiser_token"])
    room = event["rooms"][0]
    target = made[event["rooms"][3]["id"]][0]["id"]
    participant = await join(server, room)
    base = room_path(event, room)
    closed = await participant.post(f"{base}/votes", data={"item": target}, headers=HX)
    assert closed.status_code == 409
    await client.patch(f"/api/events/{event['id']}/plenary",
                       json={"voting": True, "votes_per_person": 2}, headers=organiser)
    page = await participant.get(base)
    assert "Priorities" in page.text and 'data-target="' + target + '"' in page.text
    first = await participant.post(f"{base}/votes", data={"item": target}, headers=HX)
    assert first.status_code == 200 and f'data-my-votes="{target}"' in first.text
    again = await participant.post(f"{base}/votes", data={"item": target}, headers=HX)
    assert again.status_code == 200
    actions = (await client.get(f"/api/events/{event['id']}/plenary", headers=organiser)).json()
    assert next(a for a in actions["actions"] if a["id"] == target)["votes"] == 1
    assert actions["actions"][0]["id"] == target  # ranked by votes
    # A second person's vote counts; the budget caps each person.
    other = await join(server, event["rooms"][2], name="Ola")
    await other.post(f"{room_path(event, event['rooms'][2])}/votes", data={"item": target})
    others = [a for r, a in made.items() if a[0]["id"] != target]
    await participant.post(f"{base}/votes", data={"item": others[0][0]["id"]})
    over = await participant.post(f"{base}/votes", data={"item": others[1][0]["id"]}, headers=HX)
    assert over.status_code == 409 and "used all your votes" in over.text
    # Taking one back frees it; giving it again counts once.
    await participant.post(f"{base}/votes", data={"item": target, "give": "0"})
    await participant.post(f"{base}/votes", data={"item": target})
    actions = (await client.get(f"/api/events/{event['id']}/plenary", headers=organiser)).json()
    assert next(a for a in actions["actions"] if a["id"] == target)["votes"] == 2
    # A vote belongs to a person: neither the plenary link nor a join link votes over
    # the API (a join link naming voters could vote again and again under new names).
    for token in (event["plenary_token"], room["join_token"]):
        for voter in ("x", "y", "z"):
            refused = await client.post(f"/api/events/{event['id']}/votes", json={
                "item": target, "voter": voter}, headers=auth(token))
            assert refused.status_code == 403
    actions = (await client.get(f"/api/events/{event['id']}/plenary", headers=organiser)).json()
    assert next(a for a in actions["actions"] if a["id"] == target)["votes"] == 2
    # The organiser records a named proxy vote (a paper ballot), once per person and action.
    api_vote = await client.post(f"/api/events/{event['id']}/votes", json={
        "item": target, "voter": "kari@example.org"}, headers=organiser)
    assert api_vote.status_code == 201
    replay = await client.post(f"/api/events/{event['id']}/votes", json={
        "item": target, "voter": "kari@example.org"}, headers=organiser)
    assert replay.status_code == 200
    for browser in (participant, other):
        await browser.aclose()


async def test_presence_counts_open_room_pages_and_drops_closed_ones(
    server: Server, client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    room = event["rooms"][0]
    presence = f"/api/events/{event['id']}/presence"
    organiser = auth(event["organiser_token"])
    people = [await join(server, room, name=f"P{i}") for i in range(3)]
    url = f"{server.ws_url}{room_path(event, room)}/live?after=0"
    sockets = [await connect(url, additional_headers={"cookie": cookie_of(p),
                                                      "origin": server.url}) for p in people]
    # A second tab of the same person counts once.
    sockets.append(await connect(url, additional_headers={"cookie": cookie_of(people[0]),
                                                          "origin": server.url}))

    async def count() -> int:
        answer = await client.get(presence, headers=organiser)
        return int(answer.json()["rooms"].get(room["id"], 0))

    async def until(n: int) -> None:
        while await count() != n:  # noqa: ASYNC110 - polling another process's answer
            await asyncio.sleep(0.05)

    await asyncio.wait_for(until(3), 5)
    await sockets[1].close()
    await asyncio.wait_for(until(2), 5)
    await sockets[0].close()  # one of person 0's two tabs
    await asyncio.wait_for(until(2), 5)
    for ws in sockets[2:]:
        await ws.close()
    await asyncio.wait_for(until(0), 5)
    assert (await client.get(presence, headers=auth(room["join_token"]))).status_code == 403
    for p in people:
        await p.aclose()


async def test_moderator_actions_are_changes_in_the_log(
    server: Server, client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    organiser = auth(event["organiser_token"])
    eid = event["id"]
    room = event["rooms"][0]
    await client.post(f"/api/events/{eid}/rooms/{room['id']}/lock", headers=organiser)
    await client.patch(f"/api/events/{eid}/plenary", json={"view": "roles"}, headers=organiser)
    await client.put(f"/api/events/{eid}/timer", json={"seconds": 90}, headers=organiser)
    await client.put(f"/api/events/{eid}/message", json={"text": "Hello"}, headers=organiser)
    await client.delete(f"/api/events/{eid}/rooms/{room['id']}/lock", headers=organiser)
    async with connect(stream_url(server, eid), additional_headers=organiser) as ws:
        types = []
        while len(types) < 6:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
            types.append(frame["type"])
    assert types == ["event.created", "room.created", "plenary.created", "timer.created",
                     "message.created", "room.updated"]
    # A join token's stream sees the event-wide moderator changes too (room None).
    async with connect(stream_url(server, eid), additional_headers=auth(room["join_token"])) as ws:
        seen = [json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] for _ in range(6)]
    assert "message.created" in seen and "room.updated" in seen
    extra = await client.post(f"/api/events/{eid}/rooms/{room['id']}/items", json=item_body(),
                              headers=auth(room["join_token"]))
    assert extra.status_code == 201


async def test_quick_votes_at_once_never_pass_the_budget(
    server: Server, client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    made = await seed(client, event)
    await client.patch(f"/api/events/{event['id']}/plenary",
                       json={"voting": True, "votes_per_person": 2},
                       headers=auth(event["organiser_token"]))
    targets = [entries[0]["id"] for entries in made.values()][:5]
    voter = {"voter": "quick@example.org"}
    answers = await asyncio.gather(*(
        client.post(f"/api/events/{event['id']}/votes", json={"item": t, **voter},
                    headers=auth(event["organiser_token"])) for t in targets))
    assert sorted(a.status_code for a in answers) == [201, 201, 409, 409, 409]
    actions = (await client.get(f"/api/events/{event['id']}/plenary",
                                headers=auth(event["organiser_token"]))).json()["actions"]
    assert sum(a["votes"] for a in actions) == 2

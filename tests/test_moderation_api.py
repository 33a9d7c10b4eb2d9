"""Part 3's API rows: room locks (423), merges with provenance, who may moderate."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.conftest import auth, item_body


def api(event: dict[str, Any]) -> str:
    return f"/api/events/{event['id']}"


async def add_item(client: httpx.AsyncClient, event: dict[str, Any], room: dict[str, Any],
                   text: str, **fields: Any) -> dict[str, Any]:
    answer = await client.post(f"{api(event)}/rooms/{room['id']}/items",
                               json=item_body(text, **fields), headers=auth(room["join_token"]))
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


async def test_a_locked_room_refuses_every_write_with_423(
    client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    room, other = event["rooms"][0], event["rooms"][1]
    organiser = auth(event["organiser_token"])
    base = f"{api(event)}/rooms/{room['id']}"
    item = await add_item(client, event, room, "Map who owns which emergency plan")
    role = await client.post(f"{base}/roles", json={"id": str(uuid.uuid4()), "actor": "County",
                             "role": "Coordinator"}, headers=auth(room["join_token"]))
    assert role.status_code == 201

    locked = await client.post(f"{base}/lock", headers=organiser)
    assert locked.status_code == 200, locked.text
    assert locked.json()["locked"] is True and locked.json()["id"] == room["id"]
    again = await client.post(f"{base}/lock", headers=organiser)
    assert again.status_code == 200 and again.json()["locked"] is True

    before = (await client.get(base, headers=organiser)).json()
    for token in (room["join_token"], event["organiser_token"]):
        writes = [
            client.post(f"{base}/items", json=item_body("Sneaked in"), headers=auth(token)),
            client.patch(f"{base}/items/{item['id']}", json={"version": 1, "text": "Changed"},
                         headers=auth(token)),
            client.delete(f"{base}/items/{item['id']}", headers=auth(token)),
            client.post(f"{base}/roles", json={"id": str(uuid.uuid4()), "actor": "A",
                        "role": "B"}, headers=auth(token)),
            client.delete(f"{base}/roles/{role.json()['id']}", headers=auth(token)),
        ]
        for write in writes:
            answer = await write
            assert answer.status_code == 423, answer.text
            assert answer.json()["error"]["code"] == "locked"
    after = (await client.get(base, headers=organiser)).json()
    assert after["items"] == before["items"] and after["roles"] == before["roles"]
    assert after["room"]["locked"] is True
    # Other rooms are untouched by the lock.
    await add_item(client, event, other, "Other room still open")
    # The event object shows the lock too.
    shown = (await client.get(api(event), headers=organiser)).json()
    assert [r["locked"] for r in shown["rooms"]][:2] == [True, False]

    unlocked = await client.delete(f"{base}/lock", headers=organiser)
    assert unlocked.status_code == 200 and unlocked.json()["locked"] is False
    await add_item(client, event, room, "Open again")
    relocked = await client.post(f"{base}/lock", headers=organiser)
    assert relocked.json()["locked"] is True  # lock, unlock, lock: each one counts


async def test_lock_all_rooms_and_only_the_organiser_moderates(
    client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    room = event["rooms"][2]
    for token in (room["join_token"], event["plenary_token"]):
        for call in (
            client.post(f"{api(event)}/rooms/{room['id']}/lock", headers=auth(token)),
            client.post(f"{api(event)}/lock", headers=auth(token)),
            client.post(f"{api(event)}/merges", json={"id": str(uuid.uuid4()), "items": ["a", "b"]},
                        headers=auth(token)),
            client.patch(f"{api(event)}/plenary", json={"view": "goals"}, headers=auth(token)),
            client.put(f"{api(event)}/timer", json={"seconds": 60}, headers=auth(token)),
            client.put(f"{api(event)}/message", json={"text": "hi"}, headers=auth(token)),
            client.patch(api(event), json={"title": "Mine now"}, headers=auth(token)),
        ):
            answer = await call
            assert answer.status_code == 403, answer.text
    assert (await client.post(f"{api(event)}/lock")).status_code == 401
    assert (await client.post(f"{api(event)}/rooms/nope/lock",
                              headers=auth(event["organiser_token"]))).status_code == 404
    everything = await client.post(f"{api(event)}/lock", headers=auth(event["organiser_token"]))
    assert everything.status_code == 200
    assert [r["locked"] for r in everything.json()["rooms"]] == [True] * 6
    refused = await client.post(f"{api(event)}/rooms/{room['id']}/items", json=item_body(),
                                headers=auth(room["join_token"]))
    assert refused.status_code == 423
    opened = await client.delete(f"{api(event)}/lock", headers=auth(event["organiser_token"]))
    assert [r["locked"] for r in opened.json()["rooms"]] == [False] * 6


async def test_merge_keeps_its_sources_and_is_idempotent(
    client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    organiser = auth(event["organiser_token"])
    a_room, b_room = event["rooms"][0], event["rooms"][3]
    goal = event["goals"][0]["id"]
    a = await add_item(client, event, a_room, "Set up a joint contact list for port authorities",
                       owner="Port of Bergen", goals=[goal])
    b = await add_item(client, event, b_room, "Joint contact list of port authorities and "
                       "emergency services", due="2027-01-15")
    body = {"id": str(uuid.uuid4()), "items": [a["id"], b["id"]],
            "text": "One contact list for ports and emergency services"}
    made = await client.post(f"{api(event)}/merges", json=body, headers=organiser)
    assert made.status_code == 201, made.text
    merge = made.json()
    assert merge["id"] == body["id"] and merge["text"] == body["text"]
    assert merge["items"] == [a["id"], b["id"]]
    assert merge["rooms"] == [a_room["id"], b_room["id"]]
    assert merge["goals"] == [goal] and merge["owner"] == "Port of Bergen"
    assert merge["due"] == "2027-01-15" and merge["version"] == 1
    again = await client.post(f"{api(event)}/merges", json=body, headers=organiser)
    assert again.status_code == 200 and again.json()["id"] == merge["id"]
    other = await client.post(f"{api(event)}/merges", json={**body, "text": "Else"},
                              headers=organiser)
    assert other.status_code == 409
    # An item already in a joint action cannot be merged twice.
    c = await add_item(client, event, event["rooms"][5], "Contact list")
    twice = await client.post(f"{api(event)}/merges", json={
        "id": str(uuid.uuid4()), "items": [a["id"], c["id"]]}, headers=organiser)
    assert twice.status_code == 409
    unknown = await client.post(f"{api(event)}/merges", json={
        "id": str(uuid.uuid4()), "items": [c["id"], "nope"]}, headers=organiser)
    assert unknown.status_code == 404
    one = await client.post(f"{api(event)}/merges", json={
        "id": str(uuid.uuid4()), "items": [c["id"], c["id"]]}, headers=organiser)
    assert one.status_code == 422
    # The plenary read lists the joint action once, and not its sources.
    state = (await client.get(f"{api(event)}/plenary", headers=auth(event["plenary_token"]))).json()
    texts = [x["text"] for x in state["actions"]]
    assert texts.count(body["text"]) == 1
    assert a["text"] not in texts and b["text"] not in texts and "Contact list" in texts
    joint = next(x for x in state["actions"] if x["kind"] == "merge")
    assert joint["items"] == [a["id"], b["id"]] and joint["rooms"] == merge["rooms"]
    # Undoing the merge brings the sources back.
    undone = await client.delete(f"{api(event)}/merges/{merge['id']}", headers=organiser)
    assert undone.status_code == 204
    state = (await client.get(f"{api(event)}/plenary", headers=organiser)).json()
    assert {a["text"], b["text"]} <= {x["text"] for x in state["actions"]}


async def test_duplicate_suggestions_rank_alike_items_from_different_rooms(
    client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    rooms = event["rooms"]
    a = await add_item(client, event, rooms[0], "Joint exercise for ports and municipalities")
    b = await add_item(client, event, rooms[1], "Joint exercises for the ports and municipalities")
    await add_item(client, event, rooms[0], "Joint exercise for ports and municipalities, again")
    await add_item(client, event, rooms[2], "Publish a citizen preparedness leaflet")
    found = await client.get(f"{api(event)}/merges/suggestions",
                             headers=auth(event["organiser_token"]))
    assert found.status_code == 200
    pairs = found.json()
    assert pairs and set(pairs[0]["items"]) == {a["id"], b["id"]} or \
        {a["id"], b["id"]} in [set(p["items"]) for p in pairs]
    assert all(p["rooms"][0] != p["rooms"][1] for p in pairs)
    assert all("leaflet" not in " ".join(p["texts"]) for p in pairs)
    assert pairs == sorted(pairs, key=lambda p: -p["score"])


async def test_moderator_tags_and_agrees_items_even_in_a_locked_room(
    client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    organiser = auth(event["organiser_token"])
    room = event["rooms"][4]
    item = await add_item(client, event, room, "Exercise the joint plan yearly")
    await client.post(f"{api(event)}/rooms/{room['id']}/lock", headers=organiser)
    goal = event["goals"][2]["id"]
    tagged = await client.patch(f"{api(event)}/items/{item['id']}",
                                json={"goals": [goal], "status": "agreed"}, headers=organiser)
    assert tagged.status_code == 200, tagged.text
    assert tagged.json()["goals"] == [goal] and tagged.json()["status"] == "agreed"
    bad = await client.patch(f"{api(event)}/items/{item['id']}", json={"goals": ["g99"]},
                             headers=organiser)
    assert bad.status_code == 422
    as_room = await client.patch(f"{api(event)}/items/{item['id']}", json={"status": "done"},
                                 headers=auth(room["join_token"]))
    assert as_room.status_code == 403


async def test_event_edit_adds_rooms_with_join_links_and_goals(
    client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    organiser = auth(event["organiser_token"])
    rooms = [{"id": r["id"], "name": r["name"], "prompt": r["prompt"]} for r in event["rooms"]]
    patch = {"title": "Security and preparedness, day 2",
             "rooms": rooms + [{"name": "Room 7", "prompt": "What next?"}],
             "goals": [{"id": g["id"], "text": g["text"]} for g in event["goals"]] +
                      [{"text": "Informed citizens"}]}
    edited = await client.patch(api(event), json=patch, headers=organiser)
    assert edited.status_code == 200, edited.text
    shown = edited.json()
    assert shown["title"] == patch["title"] and len(shown["rooms"]) == 7
    new = shown["rooms"][6]
    assert new["name"] == "Room 7" and new["join_token"]
    assert shown["goals"][-1] == {"id": "g4", "text": "Informed citizens"}
    await add_item(client, event, new, "First item of the new room")
    # A room with content cannot be dropped; an empty one can.
    dropped = await client.patch(api(event), json={"rooms": rooms[1:]}, headers=organiser)
    await add_item(client, event, event["rooms"][0], "Content")
    dropped = await client.patch(api(event), json={"rooms": rooms[1:]}, headers=organiser)
    assert dropped.status_code == 409
    bad = await client.patch(api(event), json={"rooms": [{"id": "nope", "name": "X"}]},
                             headers=organiser)
    assert bad.status_code == 422

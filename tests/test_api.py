"""The API contract of shared/API.md, against a running server."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.conftest import ADMIN, Server, auth, item_body, new_event


async def test_health(client: httpx.AsyncClient, server: Server) -> None:
    answer = await client.get("/healthz")
    assert answer.status_code == 200
    store, broker = ("redis", "redis") if server.settings.redis_url else ("sqlite", "memory")
    assert answer.json() == {"status": "ok", "store": store, "broker": broker}


async def test_create_event_needs_the_admin_token(client: httpx.AsyncClient) -> None:
    body = {"title": "T", "rooms": [{"name": "A"}]}
    missing = await client.post("/api/events", json=body)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "unauthorized"
    wrong = await client.post("/api/events", json=body, headers=auth("nope"))
    assert wrong.status_code == 401


async def test_created_event_has_tokens_urls_and_goals(event: dict[str, Any]) -> None:
    assert event["title"] == "Security and preparedness"
    assert [g["text"] for g in event["goals"]] == [
        "Shared situational picture", "Clear roles", "Joint exercises"]
    assert len(event["rooms"]) == 6
    for room in event["rooms"]:
        assert room["join_token"] and room["join_url"].endswith(room["join_token"])
        assert room["prompt"].startswith("Question")
    assert event["organiser_token"] and event["plenary_token"]
    assert event["plenary_url"] and event["moderator_url"]
    tokens = [event["organiser_token"], event["plenary_token"]] + [
        r["join_token"] for r in event["rooms"]]
    assert len(set(tokens)) == len(tokens)
    assert all(len(t) >= 22 for t in tokens)  # at least 128 bits of randomness


async def test_get_event_shows_only_the_tokens_the_caller_holds(
    client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    room = event["rooms"][0]
    as_join = (await client.get(f"/api/events/{event['id']}", headers=auth(room["join_token"]))).json()
    assert "organiser_token" not in as_join and "plenary_token" not in as_join
    assert "moderator_url" not in as_join
    assert [r.get("join_token") for r in as_join["rooms"]] == [room["join_token"]] + [None] * 5
    as_plenary = (await client.get(
        f"/api/events/{event['id']}", headers=auth(event["plenary_token"]))).json()
    assert as_plenary["plenary_token"] == event["plenary_token"]
    assert "organiser_token" not in as_plenary
    assert all("join_token" not in r for r in as_plenary["rooms"])
    as_organiser = (await client.get(
        f"/api/events/{event['id']}", headers=auth(event["organiser_token"]))).json()
    assert as_organiser["organiser_token"] == event["organiser_token"]


async def test_item_create_is_idempotent(client: httpx.AsyncClient, event: dict[str, Any]) -> None:
    room = event["rooms"][0]
    url = f"/api/events/{event['id']}/rooms/{room['id']}/items"
    body = item_body("Map who owns which emergency plan", owner="County", due="2027-03-01",
                     goals=[event["goals"][1]["id"]])
    first = await client.post(url, json=body, headers=auth(room["join_token"]))
    assert first.status_code == 201, first.text
    item = first.json()
    assert item["id"] == body["id"] and item["room"] == room["id"]
    assert item["status"] == "proposed" and item["version"] == 1
    assert item["due"] == "2027-03-01" and item["goals"] == [event["goals"][1]["id"]]
    assert set(item) >= {"id", "room", "text", "owner", "due", "goals", "status", "version",
                         "created_at", "updated_at"}
    again = await client.post(url, json=body, headers=auth(room["join_token"]))
    assert again.status_code == 200
    assert again.json() == item
    other = await client.post(url, json={**body, "text": "Something else"},
                              headers=auth(room["join_token"]))
    assert other.status_code == 409
    state = (await client.get(f"/api/events/{event['id']}/rooms/{room['id']}",
                              headers=auth(room["join_token"]))).json()
    assert [i["id"] for i in state["items"]] == [body["id"]]
    assert state["items"][0]["text"] == "Map who owns which emergency plan"


async def test_patch_versions_and_stale_writes(client: httpx.AsyncClient, event: dict[str, Any]) -> None:
    room = event["rooms"][1]
    base = f"/api/events/{event['id']}/rooms/{room['id']}/items"
    headers = auth(room["join_token"])
    item = (await client.post(base, json=item_body(), headers=headers)).json()
    edited = await client.patch(f"{base}/{item['id']}", json={"version": 1, "status": "agreed"},
                                headers=headers)
    assert edited.status_code == 200
    assert edited.json()["version"] == 2 and edited.json()["status"] == "agreed"
    assert edited.json()["text"] == item["text"]
    # The very same PATCH again is a retry: answered with the same result, stored once.
    retry = await client.patch(f"{base}/{item['id']}", json={"version": 1, "status": "agreed"},
                               headers=headers)
    assert retry.status_code == 200 and retry.json()["version"] == 2
    stale = await client.patch(f"{base}/{item['id']}", json={"version": 1, "text": "Mine"},
                               headers=headers)
    assert stale.status_code == 409
    error = stale.json()["error"]
    assert error["code"] == "stale_version"
    assert error["current"]["version"] == 2 and error["current"]["status"] == "agreed"
    missing = await client.patch(f"{base}/{uuid.uuid4()}", json={"version": 1, "text": "x"},
                                 headers=headers)
    assert missing.status_code == 404


async def test_delete_is_soft_and_idempotent(client: httpx.AsyncClient, event: dict[str, Any]) -> None:
    room = event["rooms"][2]
    base = f"/api/events/{event['id']}/rooms/{room['id']}/items"
    headers = auth(room["join_token"])
    item = (await client.post(base, json=item_body(), headers=headers)).json()
    assert (await client.delete(f"{base}/{item['id']}", headers=headers)).status_code == 204
    assert (await client.delete(f"{base}/{item['id']}", headers=headers)).status_code == 204
    state = (await client.get(f"/api/events/{event['id']}/rooms/{room['id']}", headers=headers)).json()
    assert state["items"] == []
    edit = await client.patch(f"{base}/{item['id']}", json={"version": 2, "text": "back"},
                              headers=headers)
    assert edit.status_code == 404


async def test_roles(client: httpx.AsyncClient, event: dict[str, Any]) -> None:
    room = event["rooms"][3]
    base = f"/api/events/{event['id']}/rooms/{room['id']}/roles"
    headers = auth(room["join_token"])
    body = {"id": str(uuid.uuid4()), "actor": "Port of Bergen", "role": "Lead",
            "responsibility": "Convenes the port security forum"}
    created = await client.post(base, json=body, headers=headers)
    assert created.status_code == 201
    role = created.json()
    assert set(role) >= {"id", "room", "actor", "role", "responsibility", "version",
                         "created_at", "updated_at"}
    assert (await client.post(base, json=body, headers=headers)).status_code == 200
    edited = await client.patch(f"{base}/{role['id']}", json={"version": 1, "role": "Co-lead"},
                                headers=headers)
    assert edited.json()["role"] == "Co-lead" and edited.json()["version"] == 2
    assert (await client.delete(f"{base}/{role['id']}", headers=headers)).status_code == 204
    state = (await client.get(f"/api/events/{event['id']}/rooms/{room['id']}", headers=headers)).json()
    assert state["roles"] == []


async def test_authorisation_matrix(client: httpx.AsyncClient, event: dict[str, Any]) -> None:
    other = await new_event(client)
    a, b = event["rooms"][0], event["rooms"][1]
    room_a = f"/api/events/{event['id']}/rooms/{a['id']}"
    room_b = f"/api/events/{event['id']}/rooms/{b['id']}"
    assert (await client.get(room_a)).status_code == 401
    assert (await client.get(room_a, headers=auth("not-a-token"))).status_code == 401
    assert (await client.get(room_a, headers=auth(a["join_token"]))).status_code == 200
    # A join token reads and writes its own room only.
    assert (await client.get(room_b, headers=auth(a["join_token"]))).status_code == 403
    refused = await client.post(f"{room_b}/items", json=item_body(), headers=auth(a["join_token"]))
    assert refused.status_code == 403
    # The plenary token reads everything and writes nothing.
    assert (await client.get(room_b, headers=auth(event["plenary_token"]))).status_code == 200
    read_only = await client.post(f"{room_b}/items", json=item_body(),
                                  headers=auth(event["plenary_token"]))
    assert read_only.status_code == 403
    # The organiser writes anywhere in its event, and nowhere in another.
    wrote = await client.post(f"{room_b}/items", json=item_body(),
                              headers=auth(event["organiser_token"]))
    assert wrote.status_code == 201
    foreign = f"/api/events/{other['id']}/rooms/{other['rooms'][0]['id']}"
    assert (await client.get(foreign, headers=auth(event["organiser_token"]))).status_code == 401
    # Unknown event, unknown room, and a room of another event: 404.
    assert (await client.get("/api/events/nope/rooms/x", headers=auth(ADMIN))).status_code == 404
    unknown_room = f"/api/events/{event['id']}/rooms/{other['rooms'][0]['id']}"
    assert (await client.get(unknown_room, headers=auth(event["organiser_token"]))).status_code == 404
    # Nothing was stored by the refused writes.
    state = (await client.get(room_b, headers=auth(event["organiser_token"]))).json()
    assert len(state["items"]) == 1


async def test_bad_input_is_refused_with_a_clear_error(
    client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    room = event["rooms"][4]
    url = f"/api/events/{event['id']}/rooms/{room['id']}/items"
    headers = auth(room["join_token"])
    cases: list[tuple[Any, int]] = [
        ({"id": str(uuid.uuid4()), "text": "x" * 2001}, 422),
        ({"id": str(uuid.uuid4()), "text": "ok", "owner": "o" * 201}, 422),
        ({"id": str(uuid.uuid4()), "text": "ok", "colour": "red"}, 422),
        ({"id": str(uuid.uuid4()), "text": 5}, 422),
        ({"id": "not-a-uuid", "text": "ok"}, 422),
        ({"id": str(uuid.uuid4()), "text": "   "}, 422),
        ({"id": str(uuid.uuid4()), "text": "ok", "goals": ["g99"]}, 422),
        ({"id": str(uuid.uuid4()), "text": "ok", "due": "tomorrow"}, 422),
        ({"id": str(uuid.uuid4()), "text": "ok", "status": "maybe"}, 422),
        ([1, 2, 3], 422),
    ]
    for body, status in cases:
        answer = await client.post(url, json=body, headers=headers)
        assert answer.status_code == status, (body, answer.text)
        error = answer.json()["error"]
        assert error["code"] and error["message"]
    not_json = await client.post(url, content=b"{nope", headers=headers)
    assert not_json.status_code == 400
    big = await client.post(url, content=b"{" + b" " * 70_000 + b"}", headers=headers)
    assert big.status_code == 413
    assert big.json()["error"]["code"] == "too_large"
    state = (await client.get(f"/api/events/{event['id']}/rooms/{room['id']}", headers=headers)).json()
    assert state["items"] == []


async def test_unknown_api_path_is_json(client: httpx.AsyncClient) -> None:
    answer = await client.get("/api/nothing-here")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"


async def test_event_validation(client: httpx.AsyncClient) -> None:
    for body in ({"title": "", "rooms": [{"name": "A"}]}, {"title": "T", "rooms": []},
                 {"title": "T", "rooms": [{"name": "A"}], "extra": 1}):
        answer = await client.post("/api/events", json=body, headers=auth(ADMIN))
        assert answer.status_code == 422, body

"""Follow-up after the event, through the API (shared/API.md, "Follow-up after the event").

Against the real server on loopback: the rooms are locked (the event is over), the
organiser opens follow-up, two spellings of one owner are joined, each owner's link
sees and reports on exactly its own actions (403 for another's, 409 when stale),
every report is a streamed change, and a replaced link stops working.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
import websockets

from tests.conftest import Server, auth, item_body, new_event

pytestmark = pytest.mark.asyncio


async def add(http: httpx.AsyncClient, ev: dict[str, Any], room: int, text: str,
              owner: str, **fields: Any) -> dict[str, Any]:
    room_id = ev["rooms"][room]["id"]
    answer = await http.post(f"/api/events/{ev['id']}/rooms/{room_id}/items",
                             json=item_body(text, owner=owner, **fields),
                             headers=auth(ev["organiser_token"]))
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


async def after_the_event(http: httpx.AsyncClient) -> tuple[dict[str, Any], dict[str, Any]]:
    """An event whose rooms are locked, with actions of several owners (and spellings)."""
    ev = await new_event(http)
    org = auth(ev["organiser_token"])
    goal = ev["goals"][0]["id"]
    items = {
        "list": await add(http, ev, 0, "Joint contact list", "Port of Bergen", goals=[goal],
                          due="2020-01-31"),
        "drill": await add(http, ev, 1, "Yearly drill", "  port of   BERGEN ", goals=[goal]),
        "plan": await add(http, ev, 2, "Evacuation plan", "Port of Bergen.",
                          due="2099-06-01"),
        "forum": await add(http, ev, 3, "Regional forum", "County Governor"),
        "forum2": await add(http, ev, 4, "A regional preparedness forum", "County Governor"),
        "none": await add(http, ev, 5, "Someone should write it down", ""),
    }
    merge = await http.post(f"/api/events/{ev['id']}/merges", headers=org, json={
        "id": str(uuid.uuid4()), "items": [items["forum"]["id"], items["forum2"]["id"]],
        "text": "One regional forum"})
    assert merge.status_code == 201, merge.text
    items["merge"] = merge.json()
    locked = await http.post(f"/api/events/{ev['id']}/lock", headers=org)
    assert locked.status_code == 200
    return ev, items


async def open_followup(http: httpx.AsyncClient, ev: dict[str, Any],
                        same: list[list[str]] | None = None) -> dict[str, dict[str, Any]]:
    body = {"same": same} if same is not None else None
    answer = await http.post(f"/api/events/{ev['id']}/follow-up", json=body,
                             headers=auth(ev["organiser_token"]))
    assert answer.status_code == 200, answer.text
    return {o["name"]: o for o in answer.json()["owners"]}


async def test_owners_are_compared_without_case_and_spaces_and_joined_on_request(
        client: httpx.AsyncClient) -> None:
    ev, items = await after_the_event(client)
    owners = await open_followup(client, ev)
    # "Port of Bergen" and "  port of   BERGEN " are one owner; the joint action's owner
    # is its sources' (both "County Governor"): one owner; an action without owner: none.
    assert sorted(owners) == ["County Governor", "Port of Bergen", "Port of Bergen."]
    assert owners["Port of Bergen"]["actions"] == 2
    assert owners["County Governor"]["actions"] == 1  # the joint action, once
    # The organiser sees the likely spellings of one owner side by side.
    summary = (await client.get(f"/api/events/{ev['id']}/follow-up",
                                headers=auth(ev["organiser_token"]))).json()
    groups = [sorted(g["names"]) for g in summary["likely_same"]]
    assert groups == [["Port of Bergen", "Port of Bergen."]]
    # Asking again gives the same links.
    again = await open_followup(client, ev)
    assert {n: o["token"] for n, o in again.items()} == {n: o["token"] for n, o in owners.items()}
    # Joining two spellings: one owner with both's actions; the absorbed link ends.
    joined = await open_followup(client, ev, [["port of bergen", "PORT OF BERGEN."]])
    assert sorted(joined) == ["County Governor", "Port of Bergen"]
    assert joined["Port of Bergen"]["token"] == owners["Port of Bergen"]["token"]
    assert joined["Port of Bergen"]["actions"] == 3
    gone = await client.get(f"/api/events/{ev['id']}/owners/{owners['Port of Bergen.']['id']}",
                            headers=auth(owners["Port of Bergen."]["token"]))
    assert gone.status_code == 401
    summary = (await client.get(f"/api/events/{ev['id']}/follow-up",
                                headers=auth(ev["organiser_token"]))).json()
    assert summary["likely_same"] == []


async def test_an_owner_sees_and_reports_on_exactly_its_own_actions(
        client: httpx.AsyncClient) -> None:
    ev, items = await after_the_event(client)
    owners = await open_followup(client, ev, [["Port of Bergen", "Port of Bergen."]])
    port, county = owners["Port of Bergen"], owners["County Governor"]
    mine = await client.get(f"/api/events/{ev['id']}/owners/{port['id']}",
                            headers=auth(port["token"]))
    assert mine.status_code == 200, mine.text
    listed = mine.json()["actions"]
    assert sorted(a["id"] for a in listed) == sorted(
        items[k]["id"] for k in ("list", "drill", "plan"))
    first = next(a for a in listed if a["id"] == items["list"]["id"])
    assert first["status"] == "not_started" and first["version"] == 0
    assert first["ref"] == "R1.1" and first["room"] == ev["rooms"][0]["id"]
    # Another owner's page and another owner's action: 403.
    other = await client.get(f"/api/events/{ev['id']}/owners/{county['id']}",
                             headers=auth(port["token"]))
    assert other.status_code == 403
    theirs = await client.patch(f"/api/events/{ev['id']}/progress/{items['merge']['id']}",
                                headers=auth(port["token"]), json={"version": 0, "progress": 5})
    assert theirs.status_code == 403
    assert theirs.json()["error"]["code"] == "forbidden"
    # Its own: stored while the rooms are locked, version by version.
    url = f"/api/events/{ev['id']}/progress/{items['list']['id']}"
    body = {"version": 0, "status": "in_progress", "progress": 40, "note": "Draft sent",
            "due": "2099-03-01"}
    done = await client.patch(url, headers=auth(port["token"]), json=body)
    assert done.status_code == 200, done.text
    assert done.json()["version"] == 1 and done.json()["progress"] == 40
    assert done.json()["due"] == "2099-03-01" and done.json()["planned_due"] == "2020-01-31"
    again = await client.patch(url, headers=auth(port["token"]), json=body)
    assert again.status_code == 200 and again.json()["version"] == 1  # a retry: stored once
    stale = await client.patch(url, headers=auth(port["token"]),
                               json={"version": 0, "progress": 90})
    assert stale.status_code == 409
    assert stale.json()["error"]["current"]["progress"] == 40
    assert stale.json()["error"]["current"]["version"] == 1
    second = await client.patch(url, headers=auth(port["token"]),
                                json={"version": 1, "status": "done"})
    assert second.status_code == 200 and second.json()["version"] == 2
    stale = await client.patch(url, headers=auth(port["token"]), json={"version": 1, "note": "x"})
    assert stale.status_code == 409 and stale.json()["error"]["current"]["status"] == "done"
    # Joint actions report like items; the organiser reports on anything.
    merged = await client.patch(f"/api/events/{ev['id']}/progress/{items['merge']['id']}",
                                headers=auth(ev["organiser_token"]),
                                json={"version": 0, "status": "dropped", "note": "Not funded"})
    assert merged.status_code == 200, merged.text
    # The plenary and join links report on nothing.
    for token in (ev["plenary_token"], ev["rooms"][0]["join_token"]):
        refused = await client.patch(url, headers=auth(token), json={"version": 2, "note": "x"})
        assert refused.status_code == 403


async def test_bad_reports_are_refused_and_change_nothing(client: httpx.AsyncClient) -> None:
    ev, items = await after_the_event(client)
    owners = await open_followup(client, ev)
    token = auth(owners["Port of Bergen"]["token"])
    url = f"/api/events/{ev['id']}/progress/{items['list']['id']}"
    for body in ({"version": 0, "progress": 101}, {"version": 0, "progress": -1},
                 {"version": 0, "status": "finished"}, {"version": 0, "note": "x" * 2001},
                 {"version": 0}, {"version": 0, "colour": "red"}, {"progress": 5},
                 {"version": 0, "status": None}):
        answer = await client.patch(url, headers=token, json=body)
        assert answer.status_code == 422, (body, answer.text)
    unknown = await client.patch(f"/api/events/{ev['id']}/progress/nope", headers=token,
                                 json={"version": 0, "progress": 5})
    assert unknown.status_code == 404
    assert (await client.patch(url, json={"version": 0, "progress": 5})).status_code == 401
    mine = (await client.get(f"/api/events/{ev['id']}/owners/{owners['Port of Bergen']['id']}",
                             headers=token)).json()
    assert all(a["version"] == 0 for a in mine["actions"])


async def test_the_organiser_view_follows_every_report_live(
        client: httpx.AsyncClient, server: Server) -> None:
    ev, items = await after_the_event(client)
    owners = await open_followup(client, ev)
    org = auth(ev["organiser_token"])
    summary = (await client.get(f"/api/events/{ev['id']}/follow-up", headers=org)).json()
    seq = max(0, *(a.get("seq", 0) for a in [summary]))
    rows = {o["name"]: o for o in summary["owners"]}
    assert rows["Port of Bergen"]["updated_at"] is None  # never reported
    assert rows["Port of Bergen"]["overdue"] == 1  # due 2020-01-31, not done
    goal = ev["goals"][0]["id"]
    async with websockets.connect(
            f"{server.ws_url}/api/events/{ev['id']}/stream?after={seq}",
            additional_headers=org) as stream:
        answer = await client.patch(
            f"/api/events/{ev['id']}/progress/{items['list']['id']}",
            headers=auth(owners["Port of Bergen"]["token"]),
            json={"version": 0, "status": "done", "note": "Shared with all"})
        assert answer.status_code == 200
        frame = json.loads(await asyncio.wait_for(stream.recv(), 10))
        assert frame["type"] == "progress.updated"  # the first report too (the contract)
        assert frame["data"]["id"] == items["list"]["id"]
        assert frame["data"]["status"] == "done"
        second = await client.patch(
            f"/api/events/{ev['id']}/progress/{items['list']['id']}",
            headers=auth(owners["Port of Bergen"]["token"]), json={"version": 1, "progress": 100})
        assert second.status_code == 200
        frame = json.loads(await asyncio.wait_for(stream.recv(), 10))
        assert frame["type"] == "progress.updated" and frame["data"]["version"] == 2
    summary = (await client.get(f"/api/events/{ev['id']}/follow-up", headers=org)).json()
    rows = {o["name"]: o for o in summary["owners"]}
    assert rows["Port of Bergen"]["done"] == 1 and rows["Port of Bergen"]["overdue"] == 0
    assert rows["Port of Bergen"]["updated_at"] is not None
    goals = {g["id"]: g for g in summary["goals"]}
    # Goal 1: "list" (done: 100 %) and "drill" (0 %).
    assert goals[goal]["actions"] == 2 and goals[goal]["done"] == 1
    assert goals[goal]["progress"] == 50
    listed = {a["id"]: a for a in summary["actions"]}
    assert listed[items["list"]["id"]]["note"] == "Shared with all"
    assert items["drill"]["id"] in listed and items["forum"]["id"] not in listed  # merged away


async def test_a_replaced_link_stops_working(client: httpx.AsyncClient) -> None:
    ev, items = await after_the_event(client)
    owners = await open_followup(client, ev)
    port = owners["Port of Bergen"]
    url = f"/api/events/{ev['id']}/owners/{port['id']}"
    assert (await client.get(url, headers=auth(port["token"]))).status_code == 200
    fresh = await client.post(f"{url}/token", headers=auth(ev["organiser_token"]))
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["token"] != port["token"]
    assert fresh.json()["url"].endswith(f"/e/{ev['id']}/o/{port['id']}?t={fresh.json()['token']}")
    assert (await client.get(url, headers=auth(port["token"]))).status_code == 401
    assert (await client.get(url, headers=auth(fresh.json()["token"]))).status_code == 200
    again = await open_followup(client, ev)
    assert again["Port of Bergen"]["token"] == fresh.json()["token"]
    # Only the organiser may replace a link.
    county = owners["County Governor"]
    assert (await client.post(f"/api/events/{ev['id']}/owners/{county['id']}/token",
                              headers=auth(county["token"]))).status_code == 403
    assert (await client.post(f"/api/events/{ev['id']}/owners/nobody/token",
                              headers=auth(ev["organiser_token"]))).status_code == 404
    assert (await client.get(url, headers=auth(county["token"]))).status_code == 403


async def test_a_replaced_link_closes_the_sockets_it_opened(
        client: httpx.AsyncClient, server: Server) -> None:
    ev, _ = await after_the_event(client)
    owners = await open_followup(client, ev)
    port, county = owners["Port of Bergen"], owners["County Governor"]
    base = f"{server.ws_url}/e/{ev['id']}/o"
    async with websockets.connect(f"{base}/{port['id']}/live?after=0",
                                  additional_headers=auth(port["token"])) as replaced, \
            websockets.connect(f"{base}/{county['id']}/live?after=0",
                               additional_headers=auth(county["token"])) as kept:
        fresh = await client.post(f"/api/events/{ev['id']}/owners/{port['id']}/token",
                                  headers=auth(ev["organiser_token"]))
        assert fresh.status_code == 200
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(replaced.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        # Another owner's socket stays open and hears the next change.
        await client.patch(f"/api/events/{ev['id']}/progress/{_merge_id(owners, county)}",
                           headers=auth(county["token"]), json={"version": 0, "progress": 10})
        async def next_card() -> str:
            while True:
                frame = str(await kept.recv())
                if 'id="progress-' in frame:
                    return frame

        frame = await asyncio.wait_for(next_card(), 10)
        assert 'data-version="1"' in frame
    # A socket with another owner's link is refused before it opens.
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(f"{base}/{county['id']}/live?after=0",
                                      additional_headers=auth(fresh.json()["token"])):
            pass
    assert refused.value.response.status_code == 403


def _merge_id(owners: dict[str, dict[str, Any]], county: dict[str, Any]) -> str:
    return str(county["action_ids"][0])

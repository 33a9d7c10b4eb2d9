"""The plenary board: first load, live pushes, and each view's content."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import httpx
from websockets.asyncio.client import connect

from tests.conftest import Server, auth, item_body


async def opened(server: Server, url: str) -> httpx.AsyncClient:
    """A browser that opened a token link (plenary or moderator)."""
    browser = httpx.AsyncClient(base_url=server.url, timeout=20, headers={"origin": server.url})
    first = await browser.get(url)
    assert first.status_code == 303, first.text
    return browser


def cookie_of(browser: httpx.AsyncClient) -> str:
    return "; ".join(f"{k}={v}" for k, v in browser.cookies.items())


async def seed(client: httpx.AsyncClient, event: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Real-looking content in every room."""
    goals = [g["id"] for g in event["goals"]]
    content = [
        ("Set up a joint contact list for port authorities", "Port of Bergen", [goals[0]],
         ("Port of Bergen", "Lead", "Contact list upkeep")),
        ("Map who owns which emergency plan", "County council", [goals[1]],
         ("County council", "Coordinator", "Regional preparedness forum")),
        ("Yearly joint exercise with defence and suppliers", "Home Guard", [goals[2]],
         ("Home Guard", "Support", "Exercise logistics")),
        ("Publish what citizens should do in the first 72 hours", "Municipality", [],
         ("Municipality", "Lead", "Citizen information")),
        ("Shared situational picture dashboard for grid and ports", "Grid operator", [goals[0]],
         ("Grid operator", "Owner", "Dashboard data feed")),
        ("Agree interfaces between the state and municipalities", "State administrator",
         [goals[1]], ("State administrator", "Lead", "Regional preparedness forum")),
    ]
    made: dict[str, list[dict[str, Any]]] = {}
    for room, (text, owner, item_goals, (actor, role, resp)) in zip(
            event["rooms"], content, strict=True):
        base = f"/api/events/{event['id']}/rooms/{room['id']}"
        item = await client.post(f"{base}/items", json=item_body(text, owner=owner,
                                 goals=item_goals), headers=auth(room["join_token"]))
        assert item.status_code == 201
        await client.post(f"{base}/roles", json={"id": str(uuid.uuid4()), "actor": actor,
                          "role": role, "responsibility": resp}, headers=auth(room["join_token"]))
        made[room["id"]] = [item.json()]
    return made


async def test_plenary_shows_every_room_on_first_load(
    server: Server, client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    await seed(client, event)
    browser = await opened(server, event["plenary_url"])
    page = await browser.get(f"/e/{event['id']}/plenary")
    assert page.status_code == 200
    html = page.text
    for room in event["rooms"]:
        assert room["name"] in html
    for text in ("Set up a joint contact list", "Map who owns which emergency plan",
                 "Yearly joint exercise", "first 72 hours", "Shared situational picture dashboard",
                 "Agree interfaces", "Port of Bergen", "Home Guard"):
        assert text in html
    assert "<form" not in html and "<button" not in html  # no controls on the projector
    assert "ws-connect=" in html
    for token in [event["organiser_token"]] + [r["join_token"] for r in event["rooms"]]:
        assert token not in html
    # A join link does not open the plenary.
    room = event["rooms"][0]
    stranger = httpx.AsyncClient(base_url=server.url)
    assert (await stranger.get(f"/e/{event['id']}/plenary",
                               headers=auth(room["join_token"]))).status_code == 403
    await stranger.aclose()
    await browser.aclose()


async def test_join_codes_show_only_on_the_organisers_board(
    server: Server, event: dict[str, Any]
) -> None:
    """A join link writes to its room: the read-only plenary link alone never reveals one."""
    path = f"/e/{event['id']}/plenary/join"
    tokens = [r["join_token"] for r in event["rooms"]]
    plenary_only = await opened(server, event["plenary_url"])
    hidden = await plenary_only.get(path)
    assert hidden.status_code == 200 and "organiser" in hidden.text
    assert not any(token in hidden.text for token in tokens) and "<svg" not in hidden.text
    moderator = await opened(server, event["moderator_url"])
    await moderator.get(event["plenary_url"])  # the moderator's laptop opens the board
    shown = await moderator.get(path)
    assert all(token in shown.text for token in tokens) and shown.text.count("<svg") == 6
    await plenary_only.aclose()
    await moderator.aclose()


async def test_plenary_socket_pushes_changes_and_the_moderators_view(
    server: Server, client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    browser = await opened(server, event["plenary_url"])
    page = await browser.get(f"/e/{event['id']}/plenary")
    seq = int(re.search(r'id="sync-seq" data-seq="(\d+)"', page.text).group(1))  # type: ignore[union-attr]
    url = f"{server.ws_url}/e/{event['id']}/plenary/live?after={seq}"
    headers = {"cookie": cookie_of(browser), "origin": server.url}
    room = event["rooms"][5]
    organiser = auth(event["organiser_token"])
    view = f"/e/{event['id']}/plenary/view"
    async with connect(url, additional_headers=headers) as ws:
        await client.post(f"/api/events/{event['id']}/rooms/{room['id']}/items",
                          json=item_body("Live on the <em>board</em>"),
                          headers=auth(room["join_token"]))
        # The push says the board changed (cheap, whatever the board's size); the page
        # then fetches the view.
        frame = str(await asyncio.wait_for(ws.recv(), 5))
        assert 'id="plenary-dirty"' in frame and f'data-refresh="{view}"' in frame
        assert "Live on the" not in frame
        html = (await browser.get(view)).text
        assert 'id="plenary-view"' in html and "Live on the &lt;em&gt;board&lt;/em&gt;" in html
        await client.patch(f"/api/events/{event['id']}/plenary",
                           json={"view": "spotlight", "spotlight": room["id"]}, headers=organiser)
        frame = str(await asyncio.wait_for(ws.recv(), 5))
        assert 'id="plenary-dirty"' in frame
        html = (await browser.get(view)).text
        assert "Room in the spotlight" in html and room["prompt"] in html
        await client.put(f"/api/events/{event['id']}/message", json={"text": "Two minutes left"},
                         headers=organiser)
        frame = str(await asyncio.wait_for(ws.recv(), 5))
        assert 'id="broadcast"' in frame and "Two minutes left" in frame
        await client.post(f"/api/events/{event['id']}/rooms/{room['id']}/lock", headers=organiser)
        frame = str(await asyncio.wait_for(ws.recv(), 5))
        assert "Closed" in (await browser.get(view)).text
    stranger = httpx.AsyncClient(base_url=server.url)
    assert (await stranger.get(view, headers=auth(room["join_token"]))).status_code == 403
    await stranger.aclose()
    await client.patch(f"/api/events/{event['id']}/plenary", json={"view": "rooms"},
                       headers=organiser)
    await browser.aclose()


async def test_views_are_right_for_six_rooms_of_real_content(
    server: Server, client: httpx.AsyncClient
) -> None:
    from tests.plenary_content import six_rooms

    event, items = await six_rooms(client)
    eid, rooms = event["id"], event["rooms"]
    organiser = auth(event["organiser_token"])
    browser = await opened(server, event["plenary_url"])

    async def view(name: str, **extra: Any) -> str:
        answer = await client.patch(f"/api/events/{eid}/plenary", json={"view": name, **extra},
                                    headers=organiser)
        assert answer.status_code == 200, answer.text
        page = await browser.get(f"/e/{eid}/plenary")
        found = re.search(r'<section id="plenary-view".*?</section>', page.text, re.S)
        assert found is not None
        return found.group(0)

    # Spotlight: that room's question, items and roles; no other room's.
    html = await view("spotlight", spotlight=rooms[3]["id"])
    assert rooms[3]["prompt"] in html and "first 72 hours" in html and "Municipality" in html
    assert "Preparedness week in schools" in html and "fuel priorities" not in html

    # Goal alignment: counts per goal and room; the goal no room addressed is marked.
    html = await view("goals")
    rows = {m.group(1).strip(): re.findall(r"<td[^>]*>([^<]*)</td>", m.group(2))
            for m in re.finditer(r'<th scope="row" dir="auto">([^<]*)(.*?)</tr>', html, re.S)}
    assert rows["Shared situational picture across sectors"] == ["1", "2", "–", "–", "–", "1", "4"]
    assert rows["Clear roles and mandates at every level"] == ["2", "–", "–", "–", "–", "–", "2"]
    assert rows["Joint exercises and training"] == ["–", "–", "1", "1", "1", "–", "3"]
    assert rows["Resilient critical infrastructure"] == ["–", "2", "1", "–", "–", "–", "3"]
    assert rows["Informed and prepared citizens"] == ["–", "–", "–", "2", "–", "1", "3"]
    assert rows["Secure digital communications"] == ["–"] * 6 + ["0"]
    assert html.count("No room addressed this") == 1
    assert re.search(r'class="gap">\s*<th scope="row" dir="auto">Secure digital', html)

    # Roles matrix: both conflicts named, the actors flagged.
    html = await view("roles")
    assert "Two leads for one responsibility" in html and "is given different roles" in html
    assert html.count('class="conflict"') == 2  # County council and State administrator
    assert re.search(r'class="conflict">\s*<th scope="row" dir="auto">.*?County council', html,
                     re.S)

    # A merge of two rooms' items: once on the board, both rooms named, sources gone.
    body = {"id": str(uuid.uuid4()), "items": [items[0][2]["id"], items[1][0]["id"]],
            "text": "One contact list for ports and emergency services"}
    await client.post(f"/api/events/{eid}/merges", json=body, headers=organiser)
    html = await view("rooms")
    assert html.count(body["text"]) == 1
    assert items[0][2]["text"] not in html and items[1][0]["text"] not in html
    joint = html[html.index("Joint actions"):]
    assert rooms[0]["name"] in joint and rooms[1]["name"] in joint
    # The goal matrix counts the joint action once in total, in both its rooms.
    html = await view("goals")
    assert "<td class=\"total\">3</td>" in html  # shared picture: 4 items, now 3 actions
    outcomes = await client.get(f"/api/events/{eid}/outcomes.json", headers=organiser)
    assert outcomes.status_code == 200
    assert outcomes.text.count(body["text"]) == 1
    assert rooms[0]["name"] in outcomes.text and rooms[1]["name"] in outcomes.text
    await browser.aclose()


async def test_the_board_theme_is_plenary_state(
    server: Server, client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    """Chosen on the moderator page, kept in the log, followed by every board."""
    eid = event["id"]
    organiser = auth(event["organiser_token"])
    browser = await opened(server, event["plenary_url"])
    view = f"/e/{eid}/plenary/view"
    assert 'data-theme="light"' in (await browser.get(view)).text
    answer = await client.patch(f"/api/events/{eid}/plenary", json={"theme": "dark"},
                                headers=organiser)
    assert answer.status_code == 200 and answer.json()["theme"] == "dark"
    assert 'data-theme="dark"' in (await browser.get(view)).text
    # Anything else is refused and changes nothing.
    bad = await client.patch(f"/api/events/{eid}/plenary", json={"theme": "neon"},
                             headers=organiser)
    assert bad.status_code == 422
    assert 'data-theme="dark"' in (await browser.get(view)).text
    # The moderator page's control posts the same change.
    moderator = await opened(server, event["moderator_url"])
    posted = await moderator.post(f"/e/{eid}/moderate/plenary", data={"theme": "light"})
    assert posted.status_code == 303
    assert 'data-theme="light"' in (await browser.get(view)).text
    state = (await client.get(f"/api/events/{eid}/plenary", headers=organiser)).json()
    assert state["plenary"]["theme"] == "light"
    await browser.aclose()
    await moderator.aclose()

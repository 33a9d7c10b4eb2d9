"""Every count of actions agrees with what is listed: a merged item is counted once, as a joint action.

Two rooms, five items, one joint action merged from an item of each: the moderator
page's Rooms table, the plenary API, the board's columns, the follow-up view and the
report's summary (HTML and Markdown, as the API and `facilitation export` serve it)
count each room's actions as the board lists them, and the joint action once.
"""

from __future__ import annotations

import re
import uuid

import httpx

from tests.conftest import Server, auth, item_body, new_event
from tests.test_plenary_page import opened

EVENT = {"title": "Counts", "rooms": [{"name": "Ports"}, {"name": "Citizens"}],
         "goals": ["Shared picture"]}


async def test_a_merged_item_is_counted_once_everywhere(server: Server,
                                                        client: httpx.AsyncClient) -> None:
    event = await new_event(client, EVENT)
    eid, (ports, citizens) = event["id"], event["rooms"]
    organiser = auth(event["organiser_token"])
    made = {}
    for room, texts in ((ports, ("Contact list", "Drill", "Forum")),
                        (citizens, ("Contact list too", "72 hours"))):
        for text in texts:
            answer = await client.post(f"/api/events/{eid}/rooms/{room['id']}/items",
                                       json=item_body(text, owner="Port"), headers=organiser)
            assert answer.status_code == 201, answer.text
            made[text] = answer.json()["id"]
    merged = await client.post(f"/api/events/{eid}/merges", headers=organiser, json={
        "id": str(uuid.uuid4()), "items": [made["Contact list"], made["Contact list too"]],
        "text": "One contact list"})
    assert merged.status_code == 201, merged.text

    # The moderator page: Ports lists 2 (and says 1 more is in a joint action), Citizens 1.
    moderator = await opened(server, event["moderator_url"])
    page = (await moderator.get(f"/e/{eid}/moderate")).text
    table = page[page.index('class="mod-rooms"'):]
    cells = dict(re.findall(r'<th scope="row" dir="auto">([^<]+)</th>\s*<td>(\d+)', table))
    assert cells == {"Ports": "2", "Citizens": "1"}
    assert table.count("(+1 in joint actions)") == 2

    # The plenary API says the same, with the items merged away apart.
    plenary = (await client.get(f"/api/events/{eid}/plenary", headers=organiser)).json()
    assert {r: (c["items"], c["merged"]) for r, c in plenary["rooms"].items()} == {
        ports["id"]: (2, 1), citizens["id"]: (1, 1)}

    # The board: each column counts what it lists; the joint action in its own column.
    board = await opened(server, event["plenary_url"])
    html = (await board.get(f"/e/{eid}/plenary")).text
    for room, n in ((ports, "2 actions"), (citizens, "1 action")):
        column = html[html.index(f'id="pl-room-{room["id"]}"'):]
        assert re.search(r'class="pl-counts">\s*<span>([^<]+)</span>', column).group(1) == n  # type: ignore[union-attr]
    assert "1 merged across rooms" in html

    # The follow-up view: four actions (two rooms' three left, the joint one once).
    summary = await client.get(f"/api/events/{eid}/follow-up", headers=organiser)
    assert len(summary.json()["actions"]) == 4

    # The report's summary: rooms as the board lists them, the joint action once.
    md = (await client.get(f"/api/events/{eid}/outcomes.md", headers=organiser)).text
    assert "| R1 | Ports | 2 | 0 | 0 | 0 |" in md and "| R2 | Citizens | 1 | 0 | 0 | 0 |" in md
    assert "| M | Joint actions | 1 | 0 | 0 | |" in md
    assert "Actions: 4 (0 agreed, 0 done)" in md and "Joint actions: 1" in md
    report = (await client.get(f"/api/events/{eid}/outcomes.html", headers=organiser)).text
    rows = re.findall(r'<th scope="row" class="code">(R\d|M)</th><td[^>]*>[^<]*</td>'
                      r'<td class="n">(\d+)</td>', report)
    assert rows == [("R1", "2"), ("R2", "1"), ("M", "1")]
    assert "Actions: 4 (0 agreed, 0 done)" in report
    # The JSON lists every room's action (merged ones with merged_into) and counts them so.
    doc = (await client.get(f"/api/events/{eid}/outcomes.json", headers=organiser)).json()
    assert len(doc["actions"]) == doc["totals"]["actions"] == 5 and doc["totals"]["merged"] == 2
    for browser in (moderator, board):
        await browser.aclose()

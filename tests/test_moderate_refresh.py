"""The moderator's live refresh sends only what changed (issue 18), and the page it
leaves equals a fresh render of the region.

A refresh with ``?since=<seq>`` answers out-of-band swaps: the region's state, then each
item that changed, by id. Applied here as htmx applies them (replace by id, append to a
room's list, delete by id), the region must equal the whole region rendered afresh;
what cannot be told as such swaps is answered whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.conftest import Server, auth, item_body, new_event
from tests.test_plenary_page import opened, seed
from tests.test_room_page import join, room_path

HX = {"hx-request": "true"}
LI = re.compile(r'<li id="mod-item-([^"]+)"[^>]*>.*?</li>', re.S)
STATE = re.compile(r'<div id="mod-state".*?(?=<section class="card" aria-labelledby='
                   r'"mod-items-heading">|<li id="mod-item-|<ul hx-swap-oob=|\Z)', re.S)


def _plain(html: str) -> str:
    """Markup compared without the swap attribute and whitespace between tags."""
    html = html.replace(' hx-swap-oob="true"', "")
    return re.sub(r">\s+<", "><", html).strip()


@dataclass
class Region:
    """The moderator's region as the page holds it: its state, each room's items."""

    state: str
    rooms: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    seq: int = 0

    @classmethod
    def parse(cls, html: str) -> Region:
        found = STATE.search(html)
        assert found is not None, html[:500]
        state = found.group(0)
        # The whole region's state closes before the items' section.
        state = state[: state.rstrip().rfind("</div>")] + "</div>"
        seq = int(re.search(r'data-region-seq="(\d+)"', state).group(1))  # type: ignore[union-attr]
        region = cls(_plain(state), seq=seq)
        for room, inner in re.findall(
                r'<ul class="mod-items" id="mod-items-([^"]+)">(.*?)</ul>', html, re.S):
            region.rooms[room] = [(m.group(1), _plain(m.group(0))) for m in LI.finditer(inner)]
        return region

    def apply(self, html: str) -> None:
        """Out-of-band swaps as htmx applies them, in their order."""
        found = STATE.search(html)
        assert found is not None and found.start() == 0, html[:300]
        self.state = _plain(found.group(0))
        self.seq = int(re.search(r'data-region-seq="(\d+)"', self.state).group(1))  # type: ignore[union-attr]
        rest = html[found.end():]
        for part in re.finditer(r'<ul hx-swap-oob="beforeend:#mod-items-([^"]+)">(.*?)</ul>'
                                r'|<li id="mod-item-([^"]+)"([^>]*)>.*?</li>', rest, re.S):
            if part.group(1):
                self.rooms[part.group(1)] += [(m.group(1), _plain(m.group(0)))
                                              for m in LI.finditer(part.group(2))]
                continue
            item_id, attributes = part.group(3), part.group(4)
            for room, items in self.rooms.items():
                at = [n for n, (i, _) in enumerate(items) if i == item_id]
                assert len(at) <= 1, f"{item_id} twice in {room}"
                if at and 'hx-swap-oob="delete"' in attributes:
                    del items[at[0]]
                elif at:
                    items[at[0]] = (item_id, _plain(part.group(0)))


async def region(browser: httpx.AsyncClient, event_id: str, since: int | None = None
                 ) -> httpx.Response:
    url = f"/e/{event_id}/moderate/live" + ("" if since is None else f"?since={since}")
    answer = await browser.get(url, headers=HX)
    assert answer.status_code == 200, answer.text
    return answer


async def test_a_refresh_sends_only_the_changed_items_and_ends_as_a_fresh_render(
    server: Server, client: httpx.AsyncClient
) -> None:
    event = await new_event(client)
    made = await seed(client, event)
    organiser = auth(event["organiser_token"])
    # Room 4 gets a second item (its one deleted below would empty it: sent whole), and
    # voting is opened first (a change to the plenary is sent whole: the next test).
    room3 = event["rooms"][3]
    kept = await client.post(f"/api/events/{event['id']}/rooms/{room3['id']}/items",
                             headers=auth(room3["join_token"]), json=item_body("Stays"))
    assert kept.status_code == 201
    await client.patch(f"/api/events/{event['id']}/plenary", json={"voting": True},
                       headers=organiser)
    moderator = await opened(server, event["moderator_url"])
    whole = await region(moderator, event["id"])
    assert "hx-reswap" not in whole.headers and 'id="mod-live"' in whole.text
    page = Region.parse(whole.text)
    assert sum(len(items) for items in page.rooms.values()) == sum(map(len, made.values())) + 1

    # One new item, one edited, one deleted, one voted for: only those four are sent.
    rooms = event["rooms"]
    items_api = f"/api/events/{event['id']}/rooms/{{}}/items"
    room0, room2 = rooms[0], rooms[2]
    added = await client.post(items_api.format(room0["id"]), headers=auth(room0["join_token"]),
                              json=item_body("A brand new idea from room one"))
    assert added.status_code == 201
    edited, deleted = made[room2["id"]][0], made[room3["id"]][0]
    answer = await client.patch(f"{items_api.format(room2['id'])}/{edited['id']}",
                                json={"version": edited["version"], "text": "Reworded"},
                                headers=auth(room2["join_token"]))
    assert answer.status_code == 200, answer.text
    answer = await client.delete(f"{items_api.format(room3['id'])}/{deleted['id']}",
                                 headers=auth(room3["join_token"]))
    assert answer.status_code == 204
    voted = made[rooms[4]["id"]][0]["id"]
    voter = await join(server, rooms[1])
    answer = await voter.post(f"{room_path(event, rooms[1])}/votes", data={"item": voted})
    assert answer.status_code in (200, 303)

    changed = await region(moderator, event["id"], page.seq)
    assert changed.headers.get("hx-reswap") == "none"
    assert 'id="mod-live"' not in changed.text
    sent = set(re.findall(r'<li id="mod-item-([^"]+)"', changed.text))
    assert sent == {added.json()["id"], edited["id"], deleted["id"], voted}
    assert len(changed.text) < len(whole.text)
    page.apply(changed.text)
    fresh = Region.parse((await region(moderator, event["id"])).text)
    assert page == fresh

    # Nothing changed since: the state alone.
    again = await region(moderator, event["id"], page.seq)
    assert again.headers.get("hx-reswap") == "none"
    assert "mod-item-" not in again.text
    await voter.aclose()
    await moderator.aclose()


async def test_what_cannot_be_told_item_by_item_is_sent_whole(
    server: Server, client: httpx.AsyncClient
) -> None:
    event = await new_event(client)
    made = await seed(client, event)
    organiser = auth(event["organiser_token"])
    moderator = await opened(server, event["moderator_url"])
    page = Region.parse((await region(moderator, event["id"])).text)

    def whole(answer: httpx.Response) -> bool:
        return "hx-reswap" not in answer.headers and 'id="mod-live"' in answer.text

    # A seq the board cannot tell from (the future, or not a number): whole.
    assert whole(await region(moderator, event["id"], page.seq + 1000))
    odd = await moderator.get(f"/e/{event['id']}/moderate/live?since=%C2%B2", headers=HX)
    assert odd.status_code == 200 and whole(odd)
    # A merge hides its items: whole, and it shows the joint action.
    first, second = made[event["rooms"][0]["id"]][0], made[event["rooms"][1]["id"]][0]
    merged = await client.post(f"/api/events/{event['id']}/merges", headers=organiser,
                               json={"id": "6f1c1d7e-8f0a-4c4e-9a55-0e6d2a1b2c3d",
                                     "items": [first["id"], second["id"]], "text": "Together"})
    assert merged.status_code == 201, merged.text
    answer = await region(moderator, event["id"], page.seq)
    assert whole(answer) and "Together" in answer.text
    page = Region.parse(answer.text)
    # Ordered by votes: whole.
    await client.patch(f"/api/events/{event['id']}/plenary", json={"sort": "votes"},
                       headers=organiser)
    assert whole(await region(moderator, event["id"], page.seq))
    # A room's first item (its "No action items yet." goes): whole.
    empty = await new_event(client)
    watcher = await opened(server, empty["moderator_url"])
    before = Region.parse((await region(watcher, empty["id"])).text)
    room = empty["rooms"][0]
    await client.post(f"/api/events/{empty['id']}/rooms/{room['id']}/items",
                      headers=auth(room["join_token"]), json=item_body("The first one"))
    answer = await region(watcher, empty["id"], before.seq)
    assert whole(answer) and "The first one" in answer.text
    for browser in (moderator, watcher):
        await browser.aclose()


async def test_the_moderator_page_is_streamed_whole(server: Server, event: dict[str, Any]) -> None:
    moderator = await opened(server, event["moderator_url"])
    page = await moderator.get(f"/e/{event['id']}/moderate")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.text.rstrip().endswith("</html>") and 'id="mod-live"' in page.text
    assert 'data-region-seq="' in page.text
    await moderator.aclose()

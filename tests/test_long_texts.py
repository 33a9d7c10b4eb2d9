"""Long texts on the pages that list the whole event (issue 18): the moderator page and
the plenary board show a bounded preview of each long text and a link to the rest, so
that a big event's page weighs its number of items, not their length."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
from markupsafe import escape

from facilitation.render import PREVIEW_CHARS, PREVIEW_SLACK, preview
from tests.conftest import Server, auth, item_body, new_event
from tests.test_plenary_page import opened

HX = {"hx-request": "true"}
# Hostile and long: every preview and the whole text must stay escaped.
HOSTILE = "<script>alert(1)</script> & \"quoted\" 'text' "


def long_text(tag: str, n: int = 2000) -> str:
    words = (HOSTILE + f"{tag} harbour municipality fjord preparedness ") * 40
    return words[:n].strip()


def test_preview_is_bounded_and_cut_on_a_word() -> None:
    assert preview("short text") is None
    assert preview("x" * (PREVIEW_CHARS + PREVIEW_SLACK)) is None
    text = long_text("a")
    cut = preview(text)
    assert cut is not None and len(cut) <= PREVIEW_CHARS + 1 and cut.endswith("\u2026")
    assert text.startswith(cut[:-1]) and text[len(cut) - 1].isspace()  # a whole word
    # One very long word: cut hard, still bounded.
    word = preview("y" * 2000)
    assert word is not None and len(word) == PREVIEW_CHARS + 1
    # Only whitespace-free scripts: bounded too.
    assert len(preview("漢" * 2000) or "") == PREVIEW_CHARS + 1


async def _event_with_long_items(client: httpx.AsyncClient) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    event = await new_event(client)
    made = []
    for n, room in enumerate(event["rooms"][:3]):
        answer = await client.post(f"/api/events/{event['id']}/rooms/{room['id']}/items",
                                   headers=auth(room["join_token"]),
                                   json=item_body(long_text(f"item{n}")))
        assert answer.status_code == 201, answer.text
        made.append(answer.json())
    short = event["rooms"][3]
    answer = await client.post(f"/api/events/{event['id']}/rooms/{short['id']}/items",
                               headers=auth(short["join_token"]), json=item_body("A short one"))
    assert answer.status_code == 201
    return event, made


def _no_whole_text(page: str, items: list[dict[str, Any]]) -> None:
    for item in items:
        assert item["text"] not in page and escape(item["text"]) not in page
        assert escape(preview(item["text"]) or "") in page
    assert "<script>alert" not in page


async def test_the_moderator_page_and_board_show_previews_of_long_texts(
    server: Server, client: httpx.AsyncClient
) -> None:
    event, made = await _event_with_long_items(client)
    moderator = await opened(server, event["moderator_url"])
    page = (await moderator.get(f"/e/{event['id']}/moderate")).text
    _no_whole_text(page, made)
    assert "A short one" in page  # short texts whole, without a link
    assert len(re.findall(r'class="more-text" href="/e/[^"]+/text/[^"?]+\?in=t-mod"', page)) == 3
    # The live region and a refresh after a change: the same previews.
    live = (await moderator.get(f"/e/{event['id']}/moderate/live", headers=HX)).text
    _no_whole_text(live, made)
    # The plenary board's view and its priorities view.
    plenary = await opened(server, event["plenary_url"])
    view = (await plenary.get(f"/e/{event['id']}/plenary/view")).text
    _no_whole_text(view, made)
    assert len(re.findall(r'class="more-text"', view)) == 3
    await client.patch(f"/api/events/{event['id']}/plenary", json={"view": "priorities"},
                       headers=auth(event["organiser_token"]))
    view = (await plenary.get(f"/e/{event['id']}/plenary/view")).text
    _no_whole_text(view, made)
    await moderator.aclose()
    await plenary.aclose()


async def test_the_link_gives_the_whole_text_escaped(server: Server, client: httpx.AsyncClient) -> None:
    event, made = await _event_with_long_items(client)
    item = made[0]
    url = f"/e/{event['id']}/text/{item['id']}?in=t-mod"
    moderator = await opened(server, event["moderator_url"])
    # htmx: the component whole, in the preview's place (same id), the spent link removed.
    fragment = await moderator.get(url, headers=HX)
    assert fragment.status_code == 200
    body = fragment.text
    assert f'id="t-mod-{item["id"]}"' in body and "autofocus" in body
    assert escape(item["text"]) in body
    assert "<script>" not in body
    assert re.search(rf'<a id="t-mod-{item["id"]}-more" hx-swap-oob="delete">', body)
    # Without JavaScript: a page with the whole text and the way back.
    page = await moderator.get(url)
    assert page.status_code == 200 and "<html" in page.text and "<main" in page.text
    assert escape(item["text"]) in page.text and "<script>alert" not in page.text
    assert f'href="/e/{event["id"]}/moderate"' in page.text
    # The plenary link may read it (its board shows it); a room's link may not.
    plenary = await opened(server, event["plenary_url"])
    assert (await plenary.get(url, headers=HX)).status_code == 200
    participant = await opened(server, event["rooms"][0]["join_url"])
    assert (await participant.get(url, headers=HX)).status_code == 403
    # Unknown entries and odd places: 404, never a 500.
    for odd in (f"/e/{event['id']}/text/nope", f"/e/{event['id']}/text/{item['id']}?in=x\"><b",
                f"/e/{event['id']}/text/{item['id']}?in=t-" + "a" * 50):
        assert (await moderator.get(odd, headers=HX)).status_code == 404, odd
    for browser in (moderator, plenary, participant):
        await browser.aclose()


async def test_kept_board_actions_equal_a_fresh_render_after_changes(
    server: Server, client: httpx.AsyncClient
) -> None:
    """The board's actions are rendered once per version and kept (Renderer.board_action):
    after votes, an edit, a status, a merge and a renamed room, the board's view must equal
    one rendered with nothing kept."""
    from tests.test_plenary_page import seed

    event = await new_event(client)
    made = await seed(client, event)
    organiser = auth(event["organiser_token"])
    plenary = await opened(server, event["plenary_url"])
    view = f"/e/{event['id']}/plenary/view"
    renderer = server.app.state.services.renderer
    first = (await plenary.get(view)).text
    rooms = event["rooms"]
    one, two = made[rooms[0]["id"]][0], made[rooms[1]["id"]][0]
    api = f"/api/events/{event['id']}"
    answer = await client.patch(f"{api}/rooms/{rooms[0]['id']}/items/{one['id']}", headers=auth(
        rooms[0]["join_token"]), json={"version": one["version"], "text": "Reworded by room one"})
    assert answer.status_code == 200, answer.text
    await client.patch(f"{api}/plenary", json={"voting": True}, headers=organiser)
    voter = await opened(server, rooms[2]["join_url"])
    await voter.post(f"/e/{event['id']}/r/{rooms[2]['id']}/votes", data={"item": two["id"]})
    moderator = await opened(server, event["moderator_url"])
    await moderator.post(f"/e/{event['id']}/moderate/items/{two['id']}", data={"status": "agreed"})
    three, four = made[rooms[2]["id"]][0], made[rooms[3]["id"]][0]
    merged = await moderator.post(f"/e/{event['id']}/moderate/merges", data={
        "id": str(uuid.uuid4()), "items": [three["id"], four["id"]], "text": "Joint one"})
    assert merged.status_code in (200, 303)
    settings = (await client.get(api, headers=organiser)).json()
    renamed = [{"id": r["id"], "name": r["name"] + " (renamed)", "prompt": r.get("prompt", "")}
               for r in settings["rooms"]]
    answer = await client.patch(api, headers=organiser, json={"rooms": renamed})
    assert answer.status_code == 200, answer.text
    kept = (await plenary.get(view)).text
    assert kept != first and "Reworded by room one" in kept and "(renamed)" in kept
    renderer._entries.clear()
    fresh = (await plenary.get(view)).text
    assert kept == fresh
    for browser in (plenary, voter, moderator):
        await browser.aclose()

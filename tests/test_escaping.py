"""No participant's text runs anywhere: room, plenary, moderator page, pushes and exports.

Each hostile string is typed where people type (item text and owner, role fields, a
participant's name, a merge, the moderator's message) and must come out as the same
plain text everywhere, never as an element, an attribute, a handler, or an
out-of-band swap that replaces something else on the page.
"""

from __future__ import annotations

import asyncio
import csv
import html
import io
import json
import re
import uuid
from html.parser import HTMLParser
from typing import Any

import httpx
from websockets.asyncio.client import connect

from tests.conftest import Server, auth, item_body, new_event
from tests.test_room_page import join, room_path

IMG = '<img src=x onerror="alert(1)">'
HX_ON = '<b hx-on:click="alert(2)">click</b> hx-on:click="alert(3)"'
OOB = '<div id="sync-seq" hx-swap-oob="true" data-seq="999999">pwned</div>'
OOB_OTHER = '<p id="pwned-target" hx-swap-oob="outerHTML:#main">x</p>'
SCRIPT = "<script>alert(4)</script>"
BREAKOUT = '"><svg onload=alert(5)>\'><x'
HOSTILE = [IMG, HX_ON, OOB, OOB_OTHER, SCRIPT, BREAKOUT]
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


class Scan(HTMLParser):
    """Every element (with its depth) and the text of a page or fragment."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[int, str, dict[str, str]]] = []
        self.chunks: list[str] = []
        self.depth = 0
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((self.depth, tag, {k: v or "" for k, v in attrs}))
        if tag not in VOID:
            self.depth += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((self.depth, tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        if tag not in VOID:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)

    @property
    def text(self) -> str:
        return "".join(self.chunks)

    def ids(self) -> list[str]:
        return [a["id"] for _, _, a in self.elements if "id" in a]

    def top_level_ids(self) -> list[str]:
        return [a.get("id", "") for depth, _, a in self.elements if depth == 0]


def assert_inert(markup: str, where: str) -> Scan:
    scan = Scan(markup)
    for _, tag, attrs in scan.elements:
        assert tag not in ("svg", "x", "b") or "hx-on:click" not in attrs, where
        assert not (tag == "script" and "src" not in attrs), (where, attrs)
        assert tag != "img" or "onerror" not in attrs, where
        for name, value in attrs.items():
            assert not name.startswith("on"), (where, tag, name)
            assert not name.startswith(("hx-on", "data-hx-on")), (where, tag, name)
            if name.startswith("hx-") or name in ("href", "src", "action", "ws-connect"):
                assert "alert(" not in value and not value.startswith("javascript:"), (where, name)
    ids = scan.ids()
    assert "pwned-target" not in ids, where
    assert ids.count("sync-seq") <= 1, where
    for _, _, attrs in scan.elements:
        if attrs.get("id") == "sync-seq":
            assert attrs.get("data-seq") != "999999", where
    return scan


def shows(scan: Scan, *texts: str) -> None:
    for text in texts:
        assert text in scan.text, text


async def hostile_event(client: httpx.AsyncClient) -> dict[str, Any]:
    event = await new_event(client, {
        "title": f"Title {SCRIPT}", "goals": [f"Goal {IMG}"],
        "rooms": [{"name": f"Room {OOB}", "prompt": f"Prompt {HX_ON}"}, {"name": "Other"}]})
    return event


async def test_hostile_text_is_plain_text_in_the_room_and_its_pushes(
    server: Server, client: httpx.AsyncClient
) -> None:
    event = await hostile_event(client)
    room = event["rooms"][0]
    api = f"/api/events/{event['id']}/rooms/{room['id']}"
    browser = await join(server, room, name=f"Name {BREAKOUT}", org=f"Org {OOB_OTHER}")
    page = await browser.get(room_path(event, room))
    seq = int(re.search(r'id="sync-seq" data-seq="(\d+)"', page.text).group(1))  # type: ignore[union-attr]
    headers = {"cookie": "; ".join(f"{k}={v}" for k, v in browser.cookies.items()),
               "origin": server.url}
    async with connect(f"{server.ws_url}{room_path(event, room)}/live?after={seq}",
                       additional_headers=headers) as ws:
        # Through the page's own form (the participant's name becomes the author) ...
        item_id = str(uuid.uuid4())
        made = await browser.post(f"{room_path(event, room)}/items", headers={"hx-request": "true"},
                                  data={"id": item_id, "text": f"{IMG} {SCRIPT}",
                                        "owner": OOB, "goals": [event["goals"][0]["id"]]})
        assert made.status_code == 201
        fragment = assert_inert(made.text, "form answer")
        shows(fragment, f"{IMG} {SCRIPT}", OOB, f"Name {BREAKOUT}")
        # ... and through the API.
        role = {"id": str(uuid.uuid4()), "actor": HX_ON, "role": OOB_OTHER,
                "responsibility": BREAKOUT}
        assert (await client.post(f"{api}/roles", json=role,
                                  headers=auth(room["join_token"]))).status_code == 201
        pushes = [str(await asyncio.wait_for(ws.recv(), 5)) for _ in range(2)]
    for push in pushes:
        scan = assert_inert(push, "room push")
        # A push swaps its top-level elements by id: only ours, never one from user text.
        top = scan.top_level_ids()
        assert top[0] == "sync-seq" and all(
            i.startswith(("item-", "role-")) for i in top[1:]), top
    shows(Scan(pushes[0]), f"{IMG} {SCRIPT}", OOB)
    shows(Scan(pushes[1]), HX_ON, OOB_OTHER, BREAKOUT)
    # The page as loaded afresh.
    page = await browser.get(room_path(event, room))
    scan = assert_inert(page.text, "room page")
    shows(scan, f"{IMG} {SCRIPT}", OOB, HX_ON, OOB_OTHER, BREAKOUT, f"Room {OOB}",
          f"Prompt {HX_ON}", f"Goal {IMG}", f"Name {BREAKOUT}")
    assert "<script>alert" not in page.text and "<img src=x" not in page.text
    edit = await browser.get(f"{room_path(event, room)}/items/{item_id}/edit",
                             headers={"hx-request": "true"})
    fields = {a.get("name"): a.get("value") for _, tag, a in
              assert_inert(edit.text, "edit form").elements if tag == "input"}
    assert fields["owner"] == OOB  # an attribute's value, escaped: still just the text
    await browser.aclose()


async def test_hostile_text_is_plain_text_on_the_plenary_and_moderator_page(
    server: Server, client: httpx.AsyncClient
) -> None:
    event = await hostile_event(client)
    room, other = event["rooms"]
    api = f"/api/events/{event['id']}"
    first = (await client.post(f"{api}/rooms/{room['id']}/items", json=item_body(IMG),
                               headers=auth(room["join_token"]))).json()
    second = (await client.post(f"{api}/rooms/{other['id']}/items", json=item_body(SCRIPT),
                                headers=auth(other["join_token"]))).json()
    organiser = auth(event["organiser_token"])
    merged = await client.post(f"{api}/merges", headers=organiser, json={
        "id": str(uuid.uuid4()), "items": [first["id"], second["id"]], "text": f"Joint {OOB}"})
    assert merged.status_code == 201, merged.text
    assert (await client.put(f"{api}/message", json={"text": f"Message {OOB_OTHER}"},
                             headers=organiser)).status_code == 200
    await client.post(f"{api}/rooms/{room['id']}/roles", headers=auth(room["join_token"]),
                      json={"id": str(uuid.uuid4()), "actor": HX_ON, "role": BREAKOUT})
    for page_name, token in (("plenary", event["plenary_token"]),
                             ("moderate", event["organiser_token"])):
        browser = httpx.AsyncClient(base_url=server.url, headers={"origin": server.url})
        opened = await browser.get(f"/e/{event['id']}/{page_name}?t={token}")
        assert opened.status_code == 303
        page = await browser.get(opened.headers["location"])
        assert page.status_code == 200
        scan = assert_inert(page.text, page_name)
        shows(scan, f"Joint {OOB}")
        if page_name == "plenary":
            shows(scan, f"Message {OOB_OTHER}")
        # Every plenary view, as the moderator switches them.
        seq = int(re.search(r'id="sync-seq" data-seq="(\d+)"', page.text).group(1))  # type: ignore[union-attr]
        cookie = {"cookie": "; ".join(f"{k}={v}" for k, v in browser.cookies.items()),
                  "origin": server.url}
        # A push says "changed"; the page then fetches its region: both inert.
        region = f"/e/{event['id']}/{'plenary/view' if page_name == 'plenary' else 'moderate/live'}"
        async with connect(f"{server.ws_url}/e/{event['id']}/{page_name}/live?after={seq}",
                           additional_headers=cookie) as ws:
            for view in ("rooms", "goals", "roles", "priorities", "spotlight"):
                body: dict[str, Any] = {"view": view}
                if view == "spotlight":
                    body["spotlight"] = room["id"]
                assert (await client.patch(f"{api}/plenary", json=body,
                                           headers=organiser)).status_code == 200
                push = str(await asyncio.wait_for(ws.recv(), 5))
                pushed = assert_inert(push, f"{page_name} push {view}")
                assert pushed.top_level_ids()[0] == "sync-seq"
                assert "pwned-target" not in pushed.top_level_ids()
                fetched = await browser.get(region, headers={"hx-request": "true"})
                assert fetched.status_code == 200
                scan = assert_inert(fetched.text, f"{page_name} {view}")
                if view == "spotlight" and page_name == "plenary":
                    shows(scan, f"Room {OOB}", HX_ON, BREAKOUT)
                if view == "rooms":
                    shows(scan, f"Joint {OOB}")
            # The moderator's message is pushed whole: inert too.
            assert (await client.put(f"{api}/message", json={"text": f"New {OOB}"},
                                     headers=organiser)).status_code == 200
            shows(assert_inert(str(await asyncio.wait_for(ws.recv(), 5)), "message push"),
                  f"New {OOB}")
        await browser.aclose()


async def test_hostile_text_is_plain_text_in_every_export(client: httpx.AsyncClient) -> None:
    event = await hostile_event(client)
    room = event["rooms"][0]
    texts = {IMG: OOB, HX_ON: BREAKOUT, SCRIPT: OOB_OTHER}
    for text, owner in texts.items():
        answer = await client.post(
            f"/api/events/{event['id']}/rooms/{room['id']}/items",
            json=item_body(text, owner=owner, due="2027-01-15"), headers=auth(room["join_token"]))
        assert answer.status_code == 201
    base = f"/api/events/{event['id']}/outcomes"
    organiser = auth(event["organiser_token"])

    async def get(fmt: str) -> httpx.Response:
        answer = await client.get(f"{base}.{fmt}", headers=organiser)
        assert answer.status_code == 200, (fmt, answer.text[:200])
        assert answer.headers["x-content-type-options"] == "nosniff"
        return answer

    # JSON: exactly what was typed.
    exported = json.dumps((await get("json")).json())
    for text, owner in texts.items():
        assert json.dumps(text) in exported and json.dumps(owner) in exported
    # CSV: each cell is the typed text (none of these starts like a formula).
    rows = list(csv.reader(io.StringIO((await get("csv")).content.decode("utf-8-sig"))))
    cells = {cell for row in rows for cell in row}
    assert set(texts) <= cells and set(texts.values()) <= cells
    # XLSX: strings, never formulas.
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO((await get("xlsx")).content))
    values = {str(c.value) for sheet in book for row in sheet.iter_rows() for c in row}
    assert set(texts) <= values
    assert not any(str(v).startswith("=") for v in values)
    # HTML report: inert, the text shown.
    report = await get("html")
    shows(assert_inert(report.text, "html export"), *texts, *texts.values())
    # Markdown: rendered, it makes no element from user text.
    from markdown_it import MarkdownIt

    rendered = MarkdownIt("commonmark").render((await get("md")).content.decode("utf-8"))
    scan = assert_inert(rendered, "markdown export")
    assert not {tag for _, tag, _ in scan.elements} & {"img", "script", "svg", "div", "b", "x"}
    for text in texts:
        assert html.unescape(text) in scan.text
    # iCalendar: the text is the summary's and description's text.
    import icalendar

    calendar = icalendar.Calendar.from_ical((await get("ics")).content)
    described = " ".join(str(e["summary"]) + str(e.get("description", ""))
                         for e in calendar.walk("VEVENT"))
    for text in texts:
        assert text in described

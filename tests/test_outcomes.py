"""The outcomes downloads, each opened with a real reader, for an event full of hostile text."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import signal
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from html.parser import HTMLParser

import httpx
import icalendar
import openpyxl
import pytest
from markdown_it import MarkdownIt

from tests.conftest import Server, auth
from tests.outcomes_fixtures import (
    FORMULA,
    HTMX,
    MARKUP,
    MULTILINE,
    SCRIPT,
    WORLD,
    Hostile,
    hostile_event,
)

DANGEROUS_START = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture(scope="module")
async def hostile(server: Server) -> AsyncIterator[Hostile]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        yield await hostile_event(http, server)


async def download(client: httpx.AsyncClient, h: Hostile, fmt: str) -> httpx.Response:
    answer = await client.get(f"/api/events/{h.event['id']}/outcomes.{fmt}", headers=auth(h.token))
    assert answer.status_code == 200, answer.text
    return answer


# -- JSON ------------------------------------------------------------------------------------


async def test_json_is_complete_and_versioned(client: httpx.AsyncClient, hostile: Hostile) -> None:
    answer = await download(client, hostile, "json")
    assert answer.headers["content-type"].startswith("application/json")
    assert "attachment" in answer.headers["content-disposition"]
    doc = answer.json()
    assert doc["schema"] == 1
    ids = [a["id"] for a in doc["actions"]]
    assert sorted(ids) == sorted(hostile.live_items) and len(ids) == len(set(ids))
    assert not set(ids) & hostile.deleted_items
    assert sorted(r["id"] for r in doc["roles"]) == sorted(hostile.live_roles)
    for action in doc["actions"]:
        stored = hostile.live_items[action["id"]]
        for name in ("text", "owner", "due", "goals", "status", "created_at", "updated_at"):
            assert action[name] == stored[name]
    assert WORLD in {a["text"] for a in doc["actions"]}
    [merge] = doc["merges"]
    assert merge["id"] == hostile.merge_id
    assert merge["live_items"] == hostile.merge_sources  # the deleted source is gone
    assert merge["sources"] == ["R1.1", "R2.2"] and len(merge["room_names"]) == 2
    contact = next(a for a in doc["actions"] if a["id"] == hostile.merge_sources[0])
    assert contact["merged_into"] == "M1" and contact["votes"] == 2 and contact["status"] == "agreed"
    assert doc["totals"]["actions"] == len(hostile.live_items)
    assert merge["votes"] == 3  # a and b on a source before the merge, c on the merge
    assert next(a for a in doc["actions"] if a["text"] == WORLD)["votes"] == 1
    assert [r["locked"] for r in doc["event"]["rooms"]] == [False, False, True]
    alignment = {line["text"]: line for line in doc["goal_alignment"]}
    # The plenary's rule: the merged action counts once per room it came from, once in total.
    picture = alignment["Shared situational picture"]
    assert list(picture["rooms"].values()) == [2, 1, 0] and picture["total"] == 2
    assert alignment["Funding for pilots"]["addressed"] is False


async def test_goal_alignment_is_the_plenarys(server: Server, hostile: Hostile) -> None:
    from facilitation.outcomes import build
    from facilitation.plenary import goal_matrix
    from tests.outcomes_fixtures import services_of

    board = await services_of(server).board(hostile.event["id"])
    model, matrix = build(board), goal_matrix(board)
    assert [list(a.per_room) for a in model.alignment] == [r["cells"] for r in matrix["rows"]]
    assert [a.total for a in model.alignment] == [r["total"] for r in matrix["rows"]]
    assert list(model.untagged) == matrix["untagged"]


# -- CSV -------------------------------------------------------------------------------------


def read_csv(body: bytes) -> list[dict[str, str]]:
    assert body.startswith(b"\xef\xbb\xbf"), "UTF-8 with BOM, for Excel"
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def unquote(cell: str) -> str:
    return cell[1:] if cell.startswith("'") and cell[1:2] in DANGEROUS_START else cell


async def test_actions_csv(client: httpx.AsyncClient, hostile: Hostile) -> None:
    answer = await download(client, hostile, "csv")
    assert answer.headers["content-type"].startswith("text/csv")
    today = datetime.now(UTC).date().isoformat()  # the export's own date is UTC
    assert answer.headers["content-disposition"] == (
        f'attachment; filename="beredskap-b-preparedness-b-outcomes-{today}.csv"')
    rows = read_csv(answer.content)
    actions = [r for r in rows if r["type"] == "Action"]
    assert [r["id"] for r in actions].count(actions[0]["id"]) == 1
    assert sorted(r["id"] for r in actions) == sorted(hostile.live_items)
    assert "DELETED" not in answer.content.decode("utf-8-sig")
    # Room by room, in the order of creation within each room.
    assert [r["ref"] for r in actions][:3] == ["R1.1", "R1.2", "R1.3"]
    [merged] = [r for r in rows if r["type"] == "Joint action"]
    assert merged["sources"] == "R1.1; R2.2" and merged["id"] == hostile.merge_id
    for row in rows:
        for cell in row.values():
            assert not cell.startswith(DANGEROUS_START), cell
    texts = {unquote(r["action"]) for r in actions}
    assert {SCRIPT, HTMX, FORMULA, MULTILINE, WORLD, MARKUP} <= texts
    by_text = {unquote(r["action"]): r for r in actions}
    assert by_text[FORMULA]["action"] == "'" + FORMULA
    assert by_text[FORMULA]["owner"].startswith("'=")
    assert by_text[WORLD]["goals"] == "Shared situational picture; Clear roles"
    assert by_text[WORLD]["room"] == "Havner og kritisk infrastruktur"
    assert by_text[WORLD]["due"] == "2027-01-31"
    assert by_text[SCRIPT]["merged into"] == "M1" and by_text[SCRIPT]["votes"] == "2"
    assert by_text[HTMX]["room"] == "'=Citizens <i>&</i> households"


async def test_roles_csv(client: httpx.AsyncClient, hostile: Hostile) -> None:
    answer = await download(client, hostile, "roles.csv")
    assert '-roles-' in answer.headers["content-disposition"]
    rows = read_csv(answer.content)
    assert sorted(r["id"] for r in rows) == sorted(hostile.live_roles)
    assert "DELETED ROLE" not in answer.content.decode("utf-8-sig")
    by_actor = {r["actor"]: r for r in rows}
    assert by_actor["'=Municipality"]["responsibility"] == MULTILINE
    assert by_actor["Fournisseurs d'énergie ⚡"]["role"] == "Point de contact"


# -- XLSX ------------------------------------------------------------------------------------


async def test_xlsx(client: httpx.AsyncClient, hostile: Hostile) -> None:
    answer = await download(client, hostile, "xlsx")
    book = openpyxl.load_workbook(io.BytesIO(answer.content))
    assert book.sheetnames == ["Summary", "Actions", "Roles", "Goal alignment", "Rooms"]
    sheet = book["Actions"]
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref and sheet.auto_filter.ref.startswith("A1:")
    header = [c.value for c in sheet[1]]
    assert all(c.font.b for c in sheet[1])
    assert sheet.column_dimensions["D"].width >= 40
    rows = [dict(zip(header, (c.value for c in row), strict=True))
            for row in sheet.iter_rows(min_row=2)]
    for name in book.sheetnames:
        for row in book[name].iter_rows():
            for cell in row:
                assert cell.data_type != "f"
                if isinstance(cell.value, str) and cell.value.startswith(DANGEROUS_START):
                    # Kept as typed, a string with the quote-prefix style: no apostrophe.
                    assert cell.data_type == "s" and cell.quotePrefix, cell.value
    actions = [r for r in rows if r["type"] == "Action"]
    assert sorted(r["id"] for r in actions) == sorted(hostile.live_items)
    assert len([r for r in rows if r["type"] == "Joint action"]) == 1
    by_text = {r["action"]: r for r in actions}
    assert {SCRIPT, HTMX, FORMULA, MULTILINE, WORLD, MARKUP} <= set(by_text)
    assert by_text[WORLD]["due"] == datetime(2027, 1, 31)  # a real date, not text
    assert isinstance(by_text[WORLD]["created (UTC)"], datetime)
    roles = list(book["Roles"].iter_rows(min_row=2, values_only=True))
    assert len(roles) == len(hostile.live_roles)
    alignment = list(book["Goal alignment"].iter_rows(values_only=True))
    assert alignment[0][1] == "Havner og kritisk infrastruktur"
    assert alignment[0][2] == "=Citizens <i>&</i> households"
    funding = next(r for r in alignment if r[0] == "Funding for pilots")
    assert funding[-1] == "not addressed"
    rooms = list(book["Rooms"].iter_rows(min_row=2, values_only=True))
    assert [r[2] for r in rooms] == [3, 3, 4]


# -- Markdown --------------------------------------------------------------------------------


async def test_markdown_is_literal(client: httpx.AsyncClient, hostile: Hostile) -> None:
    answer = await download(client, hostile, "md")
    text = answer.content.decode("utf-8")
    assert "DELETED" not in text
    assert WORLD in text  # nothing in it needs escaping: its letters, script and emoji survive
    # Every live action once in the rooms' appendix (its ref opens its list item).
    doc = (await download(client, hostile, "json")).json()
    rooms = text.split("## Appendix: the rooms")[1].split("## Appendix: actions by owner")[0]
    lines = rooms.splitlines()
    for ref in [a["ref"] for a in doc["actions"]]:
        assert sum(1 for line in lines if line.startswith(f"- **{ref}** ")) == 1, ref
    assert sum(1 for line in lines if line.startswith("- **") and " — " in line
               and not line.startswith(("- **R", "- **M"))) == len(hostile.live_roles)
    assert "Sources: R1.1 (Havner og kritisk infrastruktur), R2.2" in text
    rendered = MarkdownIt("commonmark").enable("table").render(text)
    # Every hostile string comes out as text: no tag, no link, no emphasis from user input.
    assert "<script" not in rendered and "<div" not in rendered and "<i>" not in rendered
    assert "<b>" not in rendered and "href" not in rendered and "<code>" not in rendered
    assert "&lt;script&gt;" in rendered
    assert rendered.count("<h2>") == 3  # the summary, the rooms, the owners
    assert "<h1>Outcomes: Beredskap &amp; &lt;b&gt;Preparedness&lt;/b&gt; 🌊</h1>" in rendered
    # Multi-line text stays inside its list item, as line breaks.
    assert "Line one of the plan<br />\nLine two<br />\n# Not a heading" in rendered
    assert "not addressed" in text


# -- HTML ------------------------------------------------------------------------------------


class Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


async def test_html_report(client: httpx.AsyncClient, hostile: Hostile) -> None:
    answer = await download(client, hostile, "html")
    assert answer.headers["content-disposition"].startswith("inline;")
    policy = answer.headers["content-security-policy"]
    assert "script" not in policy and "unsafe" not in policy and "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    page = Collect()
    page.feed(answer.content.decode("utf-8"))
    names = [t for t, _ in page.tags]
    assert "script" not in names and "iframe" not in names and "img" not in names
    for _, attrs in page.tags:
        assert not any(a.startswith(("on", "hx-", "style")) for a in attrs)
    # One row per live action in the rooms' appendix, one per role.
    appendix = answer.text.split('<section class="appendix"')[1].split('<section class="owners"')[0]
    assert appendix.count('<td class="ref">') == len(hostile.live_items)
    assert appendix.count("<tr><td class=\"text") == len(hostile.live_roles)
    body = "".join(page.text)
    for hostile_text in (SCRIPT, HTMX, FORMULA, WORLD, MARKUP, "Line two\n\n# Not a heading"):
        assert hostile_text in body
    assert "DELETED" not in body
    assert "break-before: page" in body  # the print stylesheet


# -- ICS -------------------------------------------------------------------------------------


async def test_ics(client: httpx.AsyncClient, hostile: Hostile) -> None:
    answer = await download(client, hostile, "ics")
    assert answer.headers["content-type"].startswith("text/calendar")
    calendar = icalendar.Calendar.from_ical(answer.content)
    events = list(calendar.walk("VEVENT"))
    event_id = hostile.event["id"]
    # Every action with a due date once; the joint action instead of its sources.
    due = {i["id"]: i for i in hostile.live_items.values()
           if i["due"] and i["id"] not in hostile.merge_sources}
    uids = [str(e["uid"]) for e in events]
    assert all(uid.startswith(f"{event_id}-") and uid.endswith("@facilitation") for uid in uids)
    ids = [uid[len(event_id) + 1:].split("@")[0] for uid in uids]
    assert sorted(ids) == sorted([*due, hostile.merge_id])
    for event, entity_id in zip(events, ids, strict=True):
        if entity_id == hostile.merge_id:
            assert "One contact list" in str(event["summary"])
            assert event.decoded("dtstart") == date(2026, 12, 15)  # its sources' earliest
            continue
        item = due[entity_id]
        assert event.decoded("dtstart") == date.fromisoformat(item["due"])
        assert item["owner"] in str(event["summary"])
        assert item["text"] in str(event["description"])
    world = next(e for e in events if WORLD in str(e["summary"]))
    assert "Ola Nordmann 🧭" in str(world["summary"])


# -- access ----------------------------------------------------------------------------------


async def test_only_the_organiser_downloads(client: httpx.AsyncClient, hostile: Hostile) -> None:
    path = f"/api/events/{hostile.event['id']}/outcomes.csv"
    assert (await client.get(path)).status_code == 401
    assert (await client.get(path, headers=auth("nonsense"))).status_code == 401
    event = (await client.get(f"/api/events/{hostile.event['id']}",
                              headers=auth(hostile.token))).json()
    for token in (event["plenary_token"], event["rooms"][0]["join_token"]):
        answer = await client.get(path, headers=auth(token))
        assert answer.status_code == 403 and answer.json()["error"]["code"]
    answer = await client.get(f"/api/events/{hostile.event['id']}/outcomes.exe",
                              headers=auth(hostile.token))
    assert answer.status_code == 404
    answer = await client.get("/api/events/nope/outcomes.csv", headers=auth(hostile.token))
    assert answer.status_code == 404


async def test_the_organisers_browser_session_downloads(server: Server, hostile: Hostile) -> None:
    room = hostile.rooms[0]["id"]
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as browser:
        opened = await browser.get(f"/e/{hostile.event['id']}/r/{room}?t={hostile.token}",
                                   follow_redirects=True)
        assert opened.status_code == 200
        answer = await browser.get(f"/api/events/{hostile.event['id']}/outcomes.xlsx")
        assert answer.status_code == 200
        assert answer.content.startswith(b"PK")


async def test_an_empty_event_exports_every_format(client: httpx.AsyncClient) -> None:
    from tests.conftest import new_event

    event = await new_event(client, {"title": "Empty", "rooms": [{"name": "Only room"}]})
    for fmt in ("json", "csv", "roles.csv", "xlsx", "md", "html", "ics"):
        answer = await client.get(f"/api/events/{event['id']}/outcomes.{fmt}",
                                  headers=auth(event["organiser_token"]))
        assert answer.status_code == 200, (fmt, answer.text)
    doc = json.loads((await client.get(f"/api/events/{event['id']}/outcomes.json",
                                       headers=auth(event["organiser_token"]))).content)
    assert doc["actions"] == [] and doc["merges"] == [] and doc["goal_alignment"] == []




async def test_the_moderator_pages_download_links_work(server: Server, hostile: Hostile) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as browser:
        page = await browser.get(f"/e/{hostile.event['id']}/moderate?t={hostile.token}",
                                 follow_redirects=True)
        assert page.status_code == 200
        found = Collect()
        found.feed(page.text)
        links = [attrs.get("href") or "" for tag, attrs in found.tags if tag == "a"]
        downloads = [link for link in links if "/outcomes." in link]
        assert len(downloads) == 7, links
        for link in downloads:
            # With the session cookie the organiser's link set, as a click would.
            answer = await browser.get(link)
            assert answer.status_code == 200, link
            assert "filename=" in answer.headers["content-disposition"]


async def test_a_dead_export_helper_is_replaced(client: httpx.AsyncClient, hostile: Hostile) -> None:
    from facilitation.outcomes import offload

    expected = (await download(client, hostile, "csv")).content
    pid = await asyncio.wrap_future(offload.pool().submit(os.getpid))
    assert pid != os.getpid()
    os.kill(pid, signal.SIGKILL)
    # The export in flight falls back to a thread; the next one starts a fresh helper.
    assert (await download(client, hostile, "csv")).content == expected
    assert (await download(client, hostile, "csv")).content == expected
    replaced = await asyncio.wrap_future(offload.pool().submit(os.getpid))
    assert replaced not in (pid, os.getpid())


async def test_concurrent_downloads_each_get_their_own_format(client: httpx.AsyncClient,
                                                             hostile: Hostile) -> None:
    formats = ["xlsx", "csv", "json", "ics", "md", "html", "roles.csv"]
    answers = await asyncio.gather(*(download(client, hostile, fmt) for fmt in formats))
    for fmt, answer in zip(formats, answers, strict=True):
        assert answer.headers["content-type"].split(";")[0] == {
            "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "csv": "text/csv", "roles.csv": "text/csv", "json": "application/json",
            "ics": "text/calendar", "md": "text/markdown", "html": "text/html"}[fmt]
    assert answers[0].content.startswith(b"PK") and answers[2].json()["schema"] == 1
    assert b"BEGIN:VCALENDAR" in answers[3].content


# -- one-line names and the download options, at the API edge ---------------------------------


@pytest.mark.parametrize("brk", ["\n", "\r", "\r\n", "\u2028", "\u2029", "\x85"])
async def test_titles_rooms_questions_and_goals_must_be_one_line(client: httpx.AsyncClient,
                                                                 brk: str) -> None:
    from tests.conftest import ADMIN, new_event

    good = {"title": "Forum", "rooms": [{"name": "Ports", "prompt": "Who?"}], "goals": ["Picture"]}
    bad_bodies = [
        {**good, "title": f"Forum{brk}# injected"},
        {**good, "rooms": [{"name": f"Ports{brk}## injected", "prompt": "Who?"}]},
        {**good, "rooms": [{"name": "Ports", "prompt": f"Who?{brk}When?"}]},
        {**good, "goals": [f"Picture{brk}- injected"]},
    ]
    for body in bad_bodies:
        answer = await client.post("/api/events", json=body, headers=auth(ADMIN))
        assert answer.status_code == 422, (body, answer.text)
        assert "one line" in answer.json()["error"]["message"]
    event = await new_event(client, good)
    token = event["organiser_token"]
    for patch in ({"title": f"New{brk}title"},
                  {"goals": [{"id": "g1", "text": f"Picture{brk}too"}]},
                  {"rooms": [{"id": event["rooms"][0]["id"], "name": f"P{brk}orts"}]}):
        answer = await client.patch(f"/api/events/{event['id']}", json=patch, headers=auth(token))
        assert answer.status_code == 422, (patch, answer.text)
    stored = (await client.get(f"/api/events/{event['id']}", headers=auth(token))).json()
    assert stored["title"] == "Forum" and stored["goals"][0]["text"] == "Picture"


async def test_download_options(client: httpx.AsyncClient, hostile: Hostile) -> None:
    path = f"/api/events/{hostile.event['id']}/outcomes"
    answer = await client.get(f"{path}.csv", params={"owner": "port of BERGEN", "sep": ";"},
                              headers=auth(hostile.token))
    assert answer.status_code == 200
    assert "-outcomes-port-of-bergen-" in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"), newline=""),
                               delimiter=";"))
    # Its own action is merged: the joint action it is an owner of stands for it.
    assert [r["ref"] for r in rows] == ["M1"]
    for query, fmt in (({"owner": "x"}, "xlsx"), ({"sep": ";"}, "md"), ({"sep": "|"}, "csv"),
                       ({"owner": " "}, "csv"), ({"owner": "x" * 201}, "csv")):
        answer = await client.get(f"{path}.{fmt}", params=query, headers=auth(hostile.token))
        assert answer.status_code == 422, (query, fmt, answer.text)

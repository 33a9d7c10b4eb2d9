"""Follow-up in the outcomes: every format carries each action's current report, the JSON
its history (re-imported by ``facilitation import``), the report's summary the progress per
goal, and each owner gets a calendar file of their own."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import icalendar
import openpyxl
import pytest

from facilitation.outcomes.transfer import import_event
from tests.conftest import Server, auth
from tests.outcomes_fixtures import services_of
from tests.test_followup_api import after_the_event, open_followup

pytestmark = pytest.mark.asyncio
NOTE = 'Signed by 3 of 5 <b>municipalities</b> =SUM(A1)'


async def reported(client: httpx.AsyncClient) -> tuple[dict[str, Any], dict[str, Any],
                                                       dict[str, dict[str, Any]]]:
    ev, items = await after_the_event(client)
    owners = await open_followup(client, ev, [["Port of Bergen", "Port of Bergen."]])
    port = auth(owners["Port of Bergen"]["token"])
    base = f"/api/events/{ev['id']}/progress"
    first = await client.patch(f"{base}/{items['list']['id']}", headers=port,
                               json={"version": 0, "status": "in_progress", "progress": 20})
    assert first.status_code == 200
    second = await client.patch(f"{base}/{items['list']['id']}", headers=port, json={
        "version": 1, "progress": 60, "note": NOTE, "due": "2099-03-01"})
    assert second.status_code == 200
    dropped = await client.patch(f"{base}/{items['merge']['id']}",
                                 headers=auth(owners["County Governor"]["token"]),
                                 json={"version": 0, "status": "dropped"})
    assert dropped.status_code == 200
    return ev, items, owners


async def download(client: httpx.AsyncClient, ev: dict[str, Any], fmt: str) -> httpx.Response:
    answer = await client.get(f"/api/events/{ev['id']}/outcomes.{fmt}",
                              headers=auth(ev["organiser_token"]))
    assert answer.status_code == 200, answer.text
    return answer


async def test_every_format_carries_the_current_report(client: httpx.AsyncClient) -> None:
    ev, items, _ = await reported(client)
    doc = (await download(client, ev, "json")).json()
    actions = {a["id"]: a for a in doc["actions"]} | {m["id"]: m for m in doc["merges"]}
    listed = actions[items["list"]["id"]]["follow_up"]
    assert (listed["status"], listed["progress"], listed["note"], listed["due"]) == (
        "in_progress", 60, NOTE, "2099-03-01")
    assert actions[items["merge"]["id"]]["follow_up"]["status"] == "dropped"
    assert actions[items["drill"]["id"]]["follow_up"]["status"] == "not_started"
    history = next(p for p in doc["progress"] if p["id"] == items["list"]["id"])["history"]
    assert [(h["version"], h["progress"]) for h in history] == [(1, 20), (2, 60)]
    assert sorted(o["name"] for o in doc["owners"]) == ["County Governor", "Port of Bergen"]

    rows = list(csv.DictReader(io.StringIO((await download(client, ev, "csv")).content
                                           .decode("utf-8-sig"))))
    row = next(r for r in rows if r["id"] == items["list"]["id"])
    assert (row["follow-up"], row["progress %"], row["new due"]) == (
        "In progress", "60", "2099-03-01")
    assert row["follow-up note"] == NOTE

    book = openpyxl.load_workbook(io.BytesIO((await download(client, ev, "xlsx")).content))
    sheet = next(ws for ws in book.worksheets if any(
        c.value == "follow-up note" for c in next(ws.iter_rows(max_row=1))))
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    found = [r for r in sheet.iter_rows(min_row=2, values_only=True)
             if r[header.index("id")] == items["list"]["id"]]
    assert found and found[0][header.index("follow-up note")] == NOTE
    assert found[0][header.index("progress %")] == 60

    md = (await download(client, ev, "md")).text
    assert "### Progress per plan goal" in md
    assert "Follow-up: In progress, 60 %" in md and "Follow-up: Dropped, 0 %" in md
    html = (await download(client, ev, "html")).text
    assert "Progress per plan goal" in html and "In progress · 60 %" in html
    assert "<b>municipalities" not in html and "&lt;b&gt;municipalities" in html
    # Goal 1: "list" (60 %) and "drill" (0 %): 30 %.
    assert "| G1 | Shared situational picture | 2 | 0 | 30 % |" in md


async def test_each_owner_gets_a_calendar_of_their_own_due_dates(
        client: httpx.AsyncClient) -> None:
    ev, items, owners = await reported(client)
    port = owners["Port of Bergen"]
    mine = await client.get(f"/api/events/{ev['id']}/owners/{port['id']}/calendar.ics",
                            headers=auth(port["token"]))
    assert mine.status_code == 200 and mine.headers["content-type"].startswith("text/calendar")
    entries = icalendar.Calendar.from_ical(mine.content).walk("VEVENT")
    # Their two actions with a date: the moved one (2099-03-01, not 2020-01-31) and the plan.
    assert sorted(str(e.decoded("dtstart")) for e in entries) == ["2099-03-01", "2099-06-01"]
    assert all("County" not in str(e["summary"]) for e in entries)
    county = owners["County Governor"]
    other = await client.get(f"/api/events/{ev['id']}/owners/{county['id']}/calendar.ics",
                             headers=auth(port["token"]))
    assert other.status_code == 403
    # The organiser's outcomes.ics by owner: a joined owner's spellings are one owner.
    joined = await client.get(f"/api/events/{ev['id']}/outcomes.ics",
                              params={"owner": "port of bergen."},
                              headers=auth(ev["organiser_token"]))
    assert joined.status_code == 200
    assert len(icalendar.Calendar.from_ical(joined.content).walk("VEVENT")) == 2


async def test_the_history_is_reimported(server: Server, client: httpx.AsyncClient) -> None:
    ev, items, _ = await reported(client)
    doc = (await download(client, ev, "json")).json()
    services = services_of(server)
    copy_id, secrets = await import_event(services, doc)
    again = await client.get(f"/api/events/{copy_id}/outcomes.json",
                             headers=auth(secrets.organiser_token))
    copied = again.json()

    def reports(d: dict[str, Any]) -> list[Any]:
        return sorted((p["id"], p["status"], p["progress"], p["note"],
                       [(h["version"], h["progress"], h["at"]) for h in p["history"]])
                      for p in d["progress"])

    assert reports(copied) == reports(doc)
    assert copied["owners"] == doc["owners"]
    # The copy's organiser opens follow-up again: the same owners, new links.
    opened = await client.post(f"/api/events/{copy_id}/follow-up",
                               headers=auth(secrets.organiser_token))
    assert sorted(o["name"] for o in opened.json()["owners"]) == [
        "County Governor", "Port of Bergen"]
    summary = (await client.get(f"/api/events/{copy_id}/follow-up",
                                headers=auth(secrets.organiser_token))).json()
    listed = next(a for a in summary["actions"] if a["id"] == items["list"]["id"])
    assert listed["progress"] == 60 and listed["note"] == NOTE

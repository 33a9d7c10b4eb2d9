"""Follow-up pages over HTTP: the owner's page and its forms, the organiser's follow-up page."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
import websockets

from tests.conftest import Server, auth
from tests.test_followup_api import after_the_event, open_followup

pytestmark = pytest.mark.asyncio

HOSTILE = '<script>alert(1)</script><img src=x onerror=alert(2)>'


def browser_for(server: Server) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.url, timeout=20, headers={"origin": server.url})


async def opened(browser: httpx.AsyncClient, url: str) -> httpx.AsyncClient:
    """A browser-like client that opened a token link (the cookie replaces the token)."""
    first = await browser.get(url)
    assert first.status_code == 303, first.text
    assert "t=" not in first.headers["location"]
    return browser


async def test_the_owners_page_lists_exactly_its_actions_and_saves_reports(
        server: Server, client: httpx.AsyncClient) -> None:
    ev, items = await after_the_event(client)
    owners = await open_followup(client, ev, [["Port of Bergen", "Port of Bergen."]])
    port = owners["Port of Bergen"]
    async with browser_for(server) as browser:
        await opened(browser, port["url"])
        page = await browser.get(f"/e/{ev['id']}/o/{port['id']}")
        assert page.status_code == 200
        shown = set(re.findall(r'id="progress-([0-9a-f-]+)"', page.text))
        assert shown == {items[k]["id"] for k in ("list", "drill", "plan")}
        assert "Regional forum" not in page.text and port["token"] not in page.text
        assert 'data-outbox="/e/' in page.text and "ws-connect=" in page.text
        path = f"/e/{ev['id']}/o/{port['id']}/progress/{items['list']['id']}"
        form = {"version": "0", "status": "in_progress", "progress": "30",
                "note": HOSTILE, "due": ""}
        saved = await browser.post(path, data=form, headers={"hx-request": "true"})
        assert saved.status_code == 200, saved.text
        assert 'data-version="1"' in saved.text and "hx-swap-oob" in saved.text
        assert "<script>alert" not in saved.text and "&lt;script&gt;" in saved.text
        # A stale version: refused with the reason the outbox shows; nothing changes.
        stale = await browser.post(path, data={**form, "note": "other"},
                                   headers={"hx-request": "true"})
        assert stale.status_code == 409 and 'class="form-error"' in stale.text
        # Another owner's action, through this owner's page: 403.
        other = f"/e/{ev['id']}/o/{port['id']}/progress/{items['merge']['id']}"
        refused = await browser.post(other, data={**form, "version": "0"})
        assert refused.status_code == 403
        # Another owner's page: 403. Without our Origin (CSRF): 403.
        county = owners["County Governor"]
        assert (await browser.get(f"/e/{ev['id']}/o/{county['id']}")).status_code == 403
        cross = await browser.post(path, data={**form, "version": "1"},
                                   headers={"origin": "https://evil.example"})
        assert cross.status_code == 403
        # Without JavaScript: a plain post and a redirect back.
        plain = await browser.post(path, data={**form, "version": "1", "progress": "60"})
        assert plain.status_code == 303
    state = (await client.get(f"/api/events/{ev['id']}/owners/{port['id']}",
                              headers=auth(port["token"]))).json()
    mine = next(a for a in state["actions"] if a["id"] == items["list"]["id"])
    assert mine["version"] == 2 and mine["progress"] == 60 and mine["note"] == HOSTILE


async def test_the_organisers_follow_up_page(server: Server, client: httpx.AsyncClient) -> None:
    ev, items = await after_the_event(client)
    async with browser_for(server) as browser:
        await opened(browser, ev["moderator_url"])
        moderate = await browser.get(f"/e/{ev['id']}/moderate")
        assert f'href="/e/{ev["id"]}/follow-up"' in moderate.text
        page = await browser.get(f"/e/{ev['id']}/follow-up")
        assert page.status_code == 200
        assert "Port of Bergen." in page.text and "County Governor" in page.text
        created = await browser.post(f"/e/{ev['id']}/follow-up/open", data={})
        assert created.status_code == 303
        page = await browser.get(f"/e/{ev['id']}/follow-up")
        links = re.findall(r'value="(http[^"]+/o/[0-9a-f]+\?t=[^"]+)"', page.text)
        assert len(links) == 3
        assert page.text.count("Never reported") == 3
        joined = await browser.post(f"/e/{ev['id']}/follow-up/open",
                                    data={"same": ["Port of Bergen", "Port of Bergen."]})
        assert joined.status_code == 303
        page = await browser.get(f"/e/{ev['id']}/follow-up")
        assert len(re.findall(r'/o/[0-9a-f]+\?t=', page.text)) == 2
        owners = await open_followup(client, ev)
        port = owners["Port of Bergen"]
        await client.patch(f"/api/events/{ev['id']}/progress/{items['list']['id']}",
                           headers=auth(port["token"]),
                           json={"version": 0, "status": "done", "note": HOSTILE})
        live = await browser.get(f"/e/{ev['id']}/follow-up/live")
        assert live.status_code == 200
        assert "<script>alert" not in live.text and "&lt;script&gt;" in live.text
        assert live.text.count("Never reported") == 1
        rotated = await browser.post(f"/e/{ev['id']}/follow-up/owners/{port['id']}/token")
        assert rotated.status_code == 303
        assert (await client.get(f"/api/events/{ev['id']}/owners/{port['id']}",
                                 headers=auth(port["token"]))).status_code == 401
    # The owner's link does not open the organiser's page; a join link neither.
    async with browser_for(server) as owner_browser:
        await opened(owner_browser, owners["County Governor"]["url"])
        assert (await owner_browser.get(f"/e/{ev['id']}/follow-up")).status_code == 403




async def test_the_owners_page_speaks_the_owners_language(
        server: Server, client: httpx.AsyncClient) -> None:
    ev, _ = await after_the_event(client)
    owners = await open_followup(client, ev)
    url = owners["County Governor"]["url"]
    async with browser_for(server) as phone:
        await opened(phone, url)
        path = url.split("?")[0].split(str(server.url), 1)[1]
        french = await phone.get(path, headers={"accept-language": "fr-FR,fr;q=0.9"})
        assert "Vos actions" in french.text and 'lang="fr"' in french.text
        english = await phone.get(path, headers={"accept-language": "en-GB"})
        assert "Your actions" in english.text
        # Their own choice wins over the phone's.
        phone.cookies.set("facilitation_lang", "nb")
        chosen = await phone.get(path, headers={"accept-language": "fr"})
        assert "Deres tiltak" in chosen.text


async def test_the_boards_follow_up_view_follows_every_report(
        server: Server, client: httpx.AsyncClient) -> None:
    ev, items = await after_the_event(client)
    owners = await open_followup(client, ev)
    shown = await client.patch(f"/api/events/{ev['id']}/plenary", json={"view": "followup"},
                               headers=auth(ev["organiser_token"]))
    assert shown.status_code == 200, shown.text
    view = f"/e/{ev['id']}/plenary/view"
    board = await client.get(view, headers=auth(ev["plenary_token"]))
    assert board.status_code == 200
    assert "how the actions moved" in board.text and 'data-view="followup"' in board.text
    assert "Port of Bergen" in board.text and board.text.count("Never reported") == 3
    seq = (await client.get(f"/api/events/{ev['id']}", headers=auth(ev["plenary_token"]))
           ).json()["seq"]
    async with websockets.connect(f"{server.ws_url}/e/{ev['id']}/plenary/live?after={seq}",
                                  additional_headers=auth(ev["plenary_token"])) as socket:
        await client.patch(f"/api/events/{ev['id']}/progress/{items['list']['id']}",
                           headers=auth(owners["Port of Bergen"]["token"]),
                           json={"version": 0, "progress": 40})
        frame = str(await asyncio.wait_for(socket.recv(), 10))
        assert "plenary-dirty" in frame  # the board fetches its view afresh
    board = await client.get(view, headers=auth(ev["plenary_token"]))
    assert board.text.count("Never reported") == 2 and "20 %" in board.text
    # The moderator page offers the view.
    moderator = await client.get(f"/e/{ev['id']}/moderate", headers=auth(ev["organiser_token"]))
    assert 'name="view" value="followup"' in moderator.text

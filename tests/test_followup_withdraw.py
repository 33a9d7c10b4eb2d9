"""The organiser withdraws an owner's link without giving a new one.

``DELETE /api/events/{event}/owners/{owner}/token`` and the follow-up page's "Withdraw
link" (with its confirm step): the link answers 401 at once, its open page's socket is
closed with 4401, opening follow-up again gives it no new link, and only "Give a new
link" (``POST …/token``) brings one back. On two workers over Redis the withdrawal made
on one ends the link's socket and requests on the other (tokens are stored, not cached).
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from websockets.asyncio.client import connect

from tests.conftest import Server, auth
from tests.test_followup_api import after_the_event, open_followup
from tests.test_plenary_page import cookie_of, opened
from tests.test_redis import pair  # noqa: F401 - the two-server fixture (Redis)
from tests.test_security import closed_with


async def owner_page_socket(server: Server, ev: dict[str, Any], owner: dict[str, Any]) -> Any:
    """The owner's page opened from their link, and its live socket."""
    browser = await opened(server, owner["url"])
    page = await browser.get(f"/e/{ev['id']}/o/{owner['id']}")
    assert page.status_code == 200
    seq = re.search(r'data-seq="(\d+)"', page.text)
    socket = await connect(
        f"{server.ws_url}/e/{ev['id']}/o/{owner['id']}/live?after={seq.group(1) if seq else 0}",
        additional_headers={"cookie": cookie_of(browser), "origin": server.url})
    return browser, socket


async def test_a_withdrawn_link_stops_working_and_is_not_given_again(
        server: Server, client: httpx.AsyncClient) -> None:
    ev, _ = await after_the_event(client)
    owners = await open_followup(client, ev)
    port, county = owners["Port of Bergen"], owners["County Governor"]
    org = auth(ev["organiser_token"])
    api = f"/api/events/{ev['id']}/owners/{port['id']}"
    browser, socket = await owner_page_socket(server, ev, port)

    # Only the organiser withdraws; an unknown owner is 404.
    assert (await client.delete(f"{api}/token", headers=auth(port["token"]))).status_code == 403
    assert (await client.delete(f"/api/events/{ev['id']}/owners/nobody/token",
                                headers=org)).status_code == 404
    withdrawn = await client.delete(f"{api}/token", headers=org)
    assert withdrawn.status_code == 204
    assert await closed_with(socket) == 4401
    assert (await client.get(api, headers=auth(port["token"]))).status_code == 401
    ended = await browser.get(f"/e/{ev['id']}/o/{port['id']}")
    # The open page says the link was withdrawn, not replaced (there is no new one to ask for).
    assert ended.status_code == 401 and "withdrawn the link" in ended.text, ended.text
    assert (await client.delete(f"{api}/token", headers=org)).status_code == 204  # again: 204
    # The other owner's link is untouched.
    assert (await client.get(f"/api/events/{ev['id']}/owners/{county['id']}",
                             headers=auth(county["token"]))).status_code == 200

    # Opening follow-up again (new owners' links) gives the withdrawn owner none.
    again = await open_followup(client, ev)
    assert again["Port of Bergen"]["token"] == "" and again["Port of Bergen"]["withdrawn"]
    assert "?t=" not in again["Port of Bergen"]["url"]
    assert again["County Governor"]["token"] == county["token"]
    assert not again["County Governor"]["withdrawn"]

    # Only the organiser's "Give a new link" brings one back.
    fresh = await client.post(f"{api}/token", headers=org)
    assert fresh.status_code == 200, fresh.text
    assert (await client.get(api, headers=auth(fresh.json()["token"]))).status_code == 200
    assert (await client.get(api, headers=auth(port["token"]))).status_code == 401
    assert not (await open_followup(client, ev))["Port of Bergen"]["withdrawn"]
    await browser.aclose()


async def test_the_follow_up_page_withdraws_after_a_confirm_step(
        server: Server, client: httpx.AsyncClient) -> None:
    ev, _ = await after_the_event(client)
    owners = await open_followup(client, ev)
    port = owners["Port of Bergen"]
    organiser = await opened(server, ev["moderator_url"])
    base = f"/e/{ev['id']}/follow-up"
    page = (await organiser.get(base)).text
    # The button only opens the confirm step; the form inside it withdraws.
    confirm = re.search(r'<details class="confirm">\s*<summary>Withdraw link.*?</details>',
                        page[page.index(f'owner-link-{port["id"]}'):], re.S)
    assert confirm is not None
    assert f'action="{base}/owners/{port["id"]}/withdraw"' in confirm.group(0)
    assert "Yes, withdraw the link" in confirm.group(0)
    done = await organiser.post(f"{base}/owners/{port['id']}/withdraw")
    assert done.status_code == 303 and f"withdrawn={port['id']}" in done.headers["location"]
    page = (await organiser.get(done.headers["location"])).text
    assert "Link withdrawn" in page and port["token"] not in page
    assert "Give a new link" in page
    api = f"/api/events/{ev['id']}/owners/{port['id']}"
    assert (await client.get(api, headers=auth(port["token"]))).status_code == 401
    # Another site cannot withdraw (the CSRF check of every form).
    forged = await organiser.post(f"{base}/owners/{port['id']}/withdraw",
                                  headers={"origin": "https://evil.example"})
    assert forged.status_code == 403
    await organiser.aclose()


async def test_a_withdrawal_on_one_worker_ends_the_link_on_the_other(
        pair: tuple[Server, Server],  # noqa: F811
) -> None:
    a, b = pair
    async with httpx.AsyncClient(base_url=a.url, timeout=20) as ca, \
            httpx.AsyncClient(base_url=b.url, timeout=20) as cb:
        ev, _ = await after_the_event(ca)
        port = (await open_followup(ca, ev))["Port of Bergen"]
        api = f"/api/events/{ev['id']}/owners/{port['id']}"
        assert (await cb.get(api, headers=auth(port["token"]))).status_code == 200
        browser, socket = await owner_page_socket(b, ev, port)
        assert (await ca.delete(f"{api}/token", headers=auth(ev["organiser_token"]))
                ).status_code == 204
        assert await closed_with(socket) == 4401
        assert (await cb.get(api, headers=auth(port["token"]))).status_code == 401
        ended = await browser.get(f"/e/{ev['id']}/o/{port['id']}")
        assert ended.status_code == 401 and "withdrawn the link" in ended.text, ended.text
        await browser.aclose()

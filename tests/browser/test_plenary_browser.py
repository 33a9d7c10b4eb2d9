"""The plenary in a real browser: live from a room, locks, merges, and every view at
1920x1080 (screenshots in tests/artifacts/ for review)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import PROJECTOR, assert_accessible, shot
from tests.conftest import Server, auth
from tests.plenary_content import six_rooms

pytestmark = pytest.mark.browser


async def fits_the_screen(page: Page) -> None:
    """No scroll bars on the projector, nothing cut, and no text under 18 px (the board's
    rule; tests/browser/test_board_fit.py checks the sizes and the paging in detail)."""
    await page.wait_for_function("() => !!document.querySelector('#plenary-view[data-fitted]')")
    sizes = await page.evaluate("""() => {
        const doc = document.documentElement;
        const shown = el => el.getClientRects().length > 0 && !el.closest('[hidden]')
            && !el.closest('.visually-hidden');
        const small = [];
        for (const el of document.querySelectorAll('#plenary-view *')) {
            const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
            if (!own || !shown(el)) continue;
            const px = parseFloat(getComputedStyle(el).fontSize);
            if (px < 18) small.push(el.tagName + ':' + px + ':' + el.textContent.trim().slice(0, 30));
        }
        // Cut off: outside the screen, or past the card or list it is in.
        const cut = [];
        for (const el of document.querySelectorAll('#plenary-view *')) {
            if (!shown(el)) continue;
            const r = el.getBoundingClientRect();
            const box = el.parentElement.closest('[data-fit-box]').getBoundingClientRect();
            if (r.bottom > Math.min(window.innerHeight, box.bottom) + 1
                || r.right > Math.min(window.innerWidth, box.right) + 1) {
                cut.push(el.tagName + '.' + el.className + ':' + Math.round(r.bottom));
            }
        }
        return {scroll: doc.scrollHeight > window.innerHeight || doc.scrollWidth > window.innerWidth,
                small, cut: cut.slice(0, 5)};
    }""")
    assert sizes["scroll"] is False, sizes
    assert sizes["small"] == []
    assert sizes["cut"] == []


async def test_room_to_plenary_live_lock_merge_and_every_view(
    server: Server, client: httpx.AsyncClient, new_context: Any
) -> None:
    event, items = await six_rooms(client)
    eid = event["id"]
    organiser = auth(event["organiser_token"])
    room = event["rooms"][2]

    projector = await (await new_context(viewport=PROJECTOR)).new_page()
    errors: list[str] = []
    projector.on("pageerror", lambda exc: errors.append(str(exc)))
    # The projector laptop is the moderator's: the board opened from the organiser's
    # browser is the one that may show the rooms' join codes.
    await projector.goto(event["moderator_url"])
    await projector.goto(event["plenary_url"])
    await projector.locator("#sync[data-state=live]").wait_for()
    for r in event["rooms"]:
        await expect(projector.locator("#plenary-view")).to_contain_text(r["name"])
    await expect(projector.locator("#plenary-view")).to_contain_text(
        "Publish what citizens should do in the first 72 hours")

    participant = await (await new_context()).new_page()
    await participant.goto(room["join_url"])
    await participant.get_by_label("Your name").fill("Kari Nordmann")
    await participant.get_by_role("button", name="Enter the room").click()
    await participant.locator("#sync[data-state=live]").wait_for()
    await participant.get_by_label("What will be done?").fill(
        "Exercise the fuel supply plan with the Home Guard")
    await participant.get_by_role("button", name="Add action item").click()
    await expect(projector.locator("#plenary-view")).to_contain_text(
        "Exercise the fuel supply plan with the Home Guard")
    # Presence: Kari's open room page counts on the board within a few seconds.
    await expect(projector.locator(f"#present-{room['id']}")).to_have_text("1")

    # Lock the room: its page says it is closed and its forms are off; the board shows it.
    locked = await client.post(f"/api/events/{eid}/rooms/{room['id']}/lock", headers=organiser)
    assert locked.status_code == 200
    await expect(participant.locator("#room-state")).to_contain_text("closed")
    await expect(participant.get_by_label("What will be done?")).to_be_disabled()
    await expect(projector.locator(f"#pl-room-{room['id']}")).to_contain_text("Closed")
    await shot(participant, "room-locked")

    # Merge the contact lists of rooms 1 and 2: once on the board, naming both rooms.
    body = {"id": str(uuid.uuid4()), "items": [items[0][2]["id"], items[1][0]["id"]],
            "text": "One contact list for ports and emergency services"}
    assert (await client.post(f"/api/events/{eid}/merges", json=body,
                              headers=organiser)).status_code == 201
    joint = projector.locator(".pl-joint-card")
    await expect(joint).to_contain_text(body["text"])
    await expect(joint).to_contain_text(event["rooms"][0]["name"])
    await expect(joint).to_contain_text(event["rooms"][1]["name"])
    await expect(projector.get_by_text(body["text"])).to_have_count(1)
    await expect(projector.locator("#plenary-view")).not_to_contain_text(items[1][0]["text"])
    await client.put(f"/api/events/{eid}/timer", json={"seconds": 300, "label": "Feedback"},
                     headers=organiser)
    await client.patch(f"/api/events/{eid}/plenary", json={"voting": True}, headers=organiser)
    for n, voter in enumerate(("a", "b", "c")):
        for target in (body["id"], items[3][0]["id"])[: 2 - n % 2]:
            await client.post(f"/api/events/{eid}/votes", json={"item": target, "voter": voter},
                              headers=auth(event["rooms"][0]["join_token"]))
    await expect(projector.locator(".timer")).to_contain_text("Feedback")
    await shot(projector, "plenary-rooms", full_page=False)
    await fits_the_screen(projector)
    await assert_accessible(projector)

    views = {
        "spotlight": ("Room in the spotlight", {"spotlight": event["rooms"][1]["id"]}),
        "goals": ("No room addressed this", {}),
        "roles": ("Two leads for one responsibility", {}),
        "priorities": ("Priorities", {"sort": "votes"}),
        "join": ("Join your room", {}),
    }
    for view, (words, extra) in views.items():
        await client.patch(f"/api/events/{eid}/plenary", json={"view": view, **extra},
                           headers=organiser)
        await expect(projector.locator(f"#plenary-view[data-view={view}]")).to_contain_text(words)
        if view == "join":
            await expect(projector.locator(".pl-qr svg")).to_have_count(6)
        await shot(projector, f"plenary-{view}", full_page=False)
        await fits_the_screen(projector)
        await assert_accessible(projector)
    # Kari closes her tab: she is gone from the room's count within a few seconds.
    await client.patch(f"/api/events/{eid}/plenary", json={"view": "rooms"}, headers=organiser)
    present = projector.locator(f"#present-{room['id']}")
    await expect(present).to_have_text("1")
    await participant.close()
    await expect(present).to_have_text("0")
    assert errors == []


async def test_moderator_page_drives_the_board(
    server: Server, client: httpx.AsyncClient, new_context: Any
) -> None:
    event, items = await six_rooms(client)
    moderator = await (await new_context(viewport={"width": 1440, "height": 900})).new_page()
    errors: list[str] = []
    moderator.on("pageerror", lambda exc: errors.append(str(exc)))
    await moderator.goto(event["moderator_url"])
    await moderator.locator("#sync[data-state=live]").wait_for()
    projector = await (await new_context(viewport=PROJECTOR)).new_page()
    await projector.goto(event["plenary_url"])
    await projector.locator("#sync[data-state=live]").wait_for()

    await moderator.get_by_role("button", name="Goal alignment").click()
    await expect(projector.locator("#plenary-view[data-view=goals]")).to_be_visible()
    await expect(moderator.get_by_role("button", name="Goal alignment")).to_have_attribute(
        "aria-pressed", "true")
    await moderator.get_by_role("button", name="Spotlight on " + event["rooms"][3]["name"]).click()
    await expect(projector.locator("#plenary-view[data-view=spotlight]")).to_contain_text(
        event["rooms"][3]["name"])
    # Tick two items from two rooms and merge them; the suggestion list offers them too.
    await expect(moderator.locator(".mod-suggestions")).to_contain_text("Joint contact list")
    await moderator.get_by_label(items[0][2]["text"]).check()
    await moderator.get_by_label(items[1][0]["text"]).check()
    await moderator.get_by_label("Wording of the joint action").fill("One contact list")
    await moderator.get_by_role("button", name="Merge the ticked items").click()
    await expect(moderator.locator("#mod-live")).to_contain_text("Joint actions")
    await moderator.get_by_role("button", name="All rooms", exact=True).click()
    await expect(projector.locator("#plenary-view")).to_contain_text("One contact list")
    await moderator.get_by_label("Message to every room and the plenary").fill("Coffee break")
    await moderator.get_by_role("button", name="Show").click()
    await expect(projector.locator("#broadcast")).to_contain_text("Coffee break")
    await moderator.get_by_role("button", name="Lock all rooms").click()
    await expect(moderator.locator(".locked-label")).to_have_count(6)
    await assert_accessible(moderator)
    await shot(moderator, "moderator-page")
    await shot(moderator, "moderator-top", full_page=False)
    assert errors == []


async def test_participants_vote_from_the_room_page(
    server: Server, client: httpx.AsyncClient, new_context: Any
) -> None:
    from tests.browser.conftest import PHONE

    event, items = await six_rooms(client)
    eid = event["id"]
    organiser = auth(event["organiser_token"])
    await client.patch(f"/api/events/{eid}/plenary", headers=organiser,
                       json={"voting": True, "votes_per_person": 2, "view": "priorities"})
    await client.put(f"/api/events/{eid}/message", json={"text": "Vote for your top two"},
                     headers=organiser)
    room = event["rooms"][0]
    phone = await (await new_context(viewport=PHONE)).new_page()
    errors: list[str] = []
    phone.on("pageerror", lambda exc: errors.append(str(exc)))
    await phone.goto(room["join_url"])
    await phone.get_by_label("Your name").fill("Kari Nordmann")
    await phone.get_by_role("button", name="Enter the room").click()
    await phone.locator("#sync[data-state=live]").wait_for()
    await expect(phone.locator("#broadcast")).to_contain_text("Vote for your top two")
    panel = phone.locator("#votes-panel")
    await expect(panel).to_contain_text("Priorities")
    target = items[3][0]
    row = panel.locator(f'.vote-row[data-target="{target["id"]}"]')
    await row.get_by_role("button", name="Vote").click()
    await expect(row).to_have_class("vote-row voted")
    await expect(row.get_by_role("button", name="Take back")).to_be_visible()
    await expect(phone.locator("#votes-left")).to_have_text("1")
    await expect(row.locator(".vote-count")).to_contain_text("1 vote")
    # Someone else's vote (a paper ballot the organiser records) arrives live; mine stays marked.
    proxy = await client.post(f"/api/events/{eid}/votes", json={"item": target["id"], "voter": "Ola"},
                              headers=organiser)
    assert proxy.status_code == 201, proxy.text
    await expect(row.locator(".vote-count")).to_contain_text("2 votes")
    await expect(row).to_have_class("vote-row voted")
    await assert_accessible(phone)
    await shot(phone, "room-voting-phone", full_page=False)
    # The board ranks it first.
    state = (await client.get(f"/api/events/{eid}/plenary", headers=organiser)).json()
    assert state["actions"][0]["id"] == target["id"] and state["actions"][0]["votes"] == 2
    await row.get_by_role("button", name="Take back").click()
    await expect(phone.locator("#votes-left")).to_have_text("2")
    assert errors == []

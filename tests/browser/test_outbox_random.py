"""Random days of one person in one room, offline and online and reloading (seeded).

Each run adds, edits, marks and deletes items and roles in a random order, going offline,
coming back and reloading the page at random moments. Whatever the order:
- the page's count of changes not sent yet is what is pending (#sync, every step offline);
- when the network is back, everything is sent, nothing is left pending or refused;
- the server ends with exactly the entries the person made, as they left them, and its
  log holds each change once: one stored change per submit, no more, no fewer.

FACILITATION_RANDOM_RUNS=50 runs seeds 0..49 (the default run: a few seeds); a failure
names its seed, and re-running that seed replays the same day.
"""

from __future__ import annotations

import json
import os
import random
import re
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect
from websockets.asyncio.client import connect

from tests.browser.helpers import act, join_room, open_menu, wait_live
from tests.conftest import Server, auth, new_event

pytestmark = pytest.mark.browser

RUNS = int(os.environ.get("FACILITATION_RANDOM_RUNS", "0"))
SEEDS = list(range(RUNS)) if RUNS else [7, 2026]
STEPS = int(os.environ.get("FACILITATION_RANDOM_STEPS", "24"))
KEY = re.compile(r"\[(?:i|r)(\d+)\]")


@dataclass
class Day:
    """What the person did, and so what the server must end with."""

    items: dict[int, dict[str, str]] = field(default_factory=dict)  # n -> text, status
    roles: dict[int, dict[str, str]] = field(default_factory=dict)  # n -> actor, role
    made: int = 0        # entries made so far (their numbers)
    submits: int = 0     # changes submitted: each must be stored exactly once
    unsent: int = 0      # submitted while offline, so not sent yet
    offline: bool = False
    log: list[str] = field(default_factory=list)


async def pending(page: Page) -> int:
    count: int = await page.evaluate("() => window.facilitationOutbox.pending()")
    return count


async def shown_count(page: Page) -> int:
    raw = await page.locator("#sync").get_attribute("data-unsent")
    return int(raw or 0)


async def drained(page: Page) -> None:
    """Online: the outbox has sent everything and the board shows it as stored."""
    await page.wait_for_function("() => window.facilitationOutbox.pending() === 0")
    await expect(page.locator(".entry.pending")).to_have_count(0)
    await expect(page.locator("#outbox")).to_be_hidden()
    await expect(page.locator(".conflict")).to_have_count(0)
    assert await shown_count(page) == 0


async def actionable(page: Page, kind: str) -> list[str]:
    """Entries stored and shown with their menu (not waiting to be created or deleted)."""
    found: list[str] = await page.evaluate(
        """(kind) => [...document.querySelectorAll('li.entry.' + kind + ':not([data-placeholder])')]
               .filter(el => !el.classList.contains('deleting') && el.querySelector('.entry-menu'))
               .map(el => el.id)""", kind)
    return found


async def number_of(page: Page, dom_id: str) -> int:
    text = await page.locator(f"#{dom_id} .entry-text").inner_text()
    found = KEY.search(text)
    assert found, text
    return int(found.group(1))


async def submitted(page: Page, day: Day) -> None:
    day.submits += 1
    if day.offline:
        day.unsent += 1
        # The count on the page is what waits, at once.
        assert await pending(page) == day.unsent, day.log
        assert await shown_count(page) == day.unsent, day.log
    else:
        await drained(page)


async def add_item(page: Page, day: Day, rng: random.Random) -> None:
    day.made += 1
    text = f"[i{day.made}] step {rng.randint(1, 999)}"
    day.items[day.made] = {"text": text, "status": "proposed"}
    await page.locator("#item-text").fill(text)
    await page.locator("#item-form button[type=submit]").click()
    await submitted(page, day)


async def add_role(page: Page, day: Day, rng: random.Random) -> None:
    day.made += 1
    actor, role = f"[r{day.made}] actor", f"role {rng.randint(1, 999)}"
    day.roles[day.made] = {"actor": actor, "role": role}
    await page.locator("#role-actor").fill(actor)
    await page.locator("#role-role").fill(role)
    await page.locator("#role-form button[type=submit]").click()
    await submitted(page, day)


async def mark(page: Page, day: Day, rng: random.Random) -> bool:
    choices = await actionable(page, "item")
    if not choices:
        return False
    dom_id = rng.choice(choices)
    n = await number_of(page, dom_id)
    item = page.locator(f"#{dom_id}")
    await open_menu(item)
    button = item.locator("button[name=status]")
    status = await button.get_attribute("value")
    assert status
    await button.click()
    day.items[n]["status"] = status
    await submitted(page, day)
    return True


async def delete(page: Page, day: Day, rng: random.Random, kind: str) -> bool:
    choices = await actionable(page, kind)
    if not choices:
        return False
    dom_id = rng.choice(choices)
    n = await number_of(page, dom_id)
    await act(page.locator(f"#{dom_id}"), "button", "Delete")
    (day.items if kind == "item" else day.roles).pop(n)
    await submitted(page, day)
    return True


async def edit(page: Page, day: Day, rng: random.Random, kind: str) -> bool:
    """Opened online (the form comes from the server); saved online or, at random, offline."""
    choices = await actionable(page, kind) if not day.offline else []
    if not choices:
        return False
    dom_id = rng.choice(choices)
    n = await number_of(page, dom_id)
    entry_id = dom_id.split("-", 1)[1]
    await act(page.locator(f"#{dom_id}"), "link", "Edit")
    if kind == "item":
        text = f"[i{n}] edited {rng.randint(1, 999)}"
        await page.locator(f"#edit-text-{entry_id}").fill(text)
        day.items[n]["text"] = text
    else:
        role = f"edited role {rng.randint(1, 999)}"
        await page.locator(f"#edit-role-{entry_id}").fill(role)
        day.roles[n]["role"] = role
    if rng.random() < 0.4:
        await go_offline(page, day)
    await page.locator(f"#{dom_id} .edit-form button[type=submit]").click()
    await submitted(page, day)
    return True


async def go_offline(page: Page, day: Day) -> None:
    day.log.append("offline")
    await page.context.set_offline(True)
    day.offline = True
    await expect(page.locator("#sync")).to_have_attribute("data-state", "offline")


async def go_online(page: Page, day: Day) -> None:
    day.log.append("online")
    await page.context.set_offline(False)
    day.offline = False
    day.unsent = 0
    await wait_live(page)
    await drained(page)


async def reload(page: Page, day: Day) -> bool:
    if day.offline:
        return False
    await page.reload()
    await wait_live(page)
    await drained(page)
    return True


async def stored_changes(server: Server, event: dict[str, Any], room: dict[str, Any],
                         after: int) -> list[dict[str, Any]]:
    """Every item and role change of the room in the log after ``after``."""
    api = f"/api/events/{event['id']}"
    async with httpx.AsyncClient(base_url=server.url) as client:
        last = (await client.get(api, headers=auth(event["organiser_token"]))).json()["seq"]
    frames: list[dict[str, Any]] = []
    url = f"{server.ws_url}{api}/stream?after={after}"
    async with connect(url, additional_headers=auth(event["organiser_token"])) as ws:
        seq = after
        while seq < last:
            frame = json.loads(await ws.recv())
            seq = frame["seq"]
            if frame["room"] == room["id"] and frame["type"].split(".")[0] in ("item", "role"):
                frames.append(frame)
    return frames


@pytest.mark.parametrize("seed", SEEDS)
async def test_a_random_day_offline_and_online_loses_and_doubles_nothing(
    seed: int, server: Server, client: httpx.AsyncClient, new_context: Any
) -> None:
    rng = random.Random(seed)
    event = await new_event(client, {"title": f"Random day {seed}", "rooms": [{"name": "One"}]})
    room = event["rooms"][0]
    start = (await client.get(f"/api/events/{event['id']}",
                              headers=auth(event["organiser_token"]))).json()["seq"]
    page = await join_room(await new_context(), room, "Kari Nordmann")
    page.on("dialog", lambda dialog: dialog.accept())
    day = Day()
    steps = {
        "add item": lambda: add_item(page, day, rng),
        "add role": lambda: add_role(page, day, rng),
        "mark": lambda: mark(page, day, rng),
        "edit item": lambda: edit(page, day, rng, "item"),
        "edit role": lambda: edit(page, day, rng, "role"),
        "delete item": lambda: delete(page, day, rng, "item"),
        "delete role": lambda: delete(page, day, rng, "role"),
        "network": lambda: (go_online if day.offline else go_offline)(page, day),
        "reload": lambda: reload(page, day),
    }
    weights = {"add item": 5, "add role": 3, "mark": 4, "edit item": 2, "edit role": 1,
               "delete item": 2, "delete role": 1, "network": 3, "reload": 1}
    names = list(weights)
    for _ in range(STEPS):
        name = rng.choices(names, [weights[n] for n in names])[0]
        day.log.append(name)
        await steps[name]()
    if day.offline:
        await go_online(page, day)
    where = f"seed {seed}: {' / '.join(day.log)}"

    board = (await client.get(f"/api/events/{event['id']}/rooms/{room['id']}",
                              headers=auth(room["join_token"]))).json()
    assert sorted((i["text"], i["status"]) for i in board["items"]) == sorted(
        (i["text"], i["status"]) for i in day.items.values()), where
    assert sorted((r["actor"], r["role"]) for r in board["roles"]) == sorted(
        (r["actor"], r["role"]) for r in day.roles.values()), where
    # Each change once: as many stored as the person submitted, and no id created twice.
    changes = await stored_changes(server, event, room, start)
    assert len(changes) == day.submits, where
    created = [c["data"]["id"] for c in changes if c["type"].endswith(".created")]
    assert len(created) == len(set(created)) == day.made, where
    # And a fresh page shows each entry once.
    await page.reload()
    await wait_live(page)
    await expect(page.locator("li.entry.item")).to_have_count(len(day.items))
    await expect(page.locator("li.entry.role")).to_have_count(len(day.roles))

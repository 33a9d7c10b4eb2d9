"""The plenary board on a projector (issue 16), in a real browser at 1920x1080 and 1280x720:
type sized for the back row, no scroll bar and nothing cut in any view, a meter per action
in Priorities, live updates that still fit, paging when six rooms of ten actions cannot fit,
and no console error. Screenshots of every view at both sizes go to tests/artifacts/."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, expect

from tests.board_content import six_rooms_of_ten, three_rooms
from tests.browser.conftest import assert_accessible, shot
from tests.conftest import Server, auth, item_body

pytestmark = pytest.mark.browser

HD = {"width": 1920, "height": 1080}
SMALL = {"width": 1280, "height": 720}
VIEWS = ("rooms", "spotlight", "priorities", "goals", "roles", "join", "followup")
PAGE_MS = 12_000  # the board turns a page every 12 seconds (README)

# What the page measures: the least text size shown, anything past its box or the screen,
# and the sizes the issue names.
MEASURE = """() => {
  const view = document.getElementById('plenary-view');
  const doc = document.documentElement;
  const shown = el => el.getClientRects().length > 0 && !el.closest('[hidden]')
      && !el.closest('.visually-hidden') && !el.closest('.skip');
  const px = el => parseFloat(getComputedStyle(el).fontSize);
  const small = [], outside = [], cut = [], over = [];
  for (const el of document.querySelectorAll('body *')) {
    if (!shown(el)) continue;
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (own && px(el) < 18) small.push(el.className + ':' + px(el) + ':' + el.textContent.slice(0, 30));
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.bottom > innerHeight + 1 || r.right > innerWidth + 1 || r.left < -1 || r.top < -1) {
      outside.push(el.tagName + '.' + el.className + ':' + Math.round(r.right) + ',' + Math.round(r.bottom));
    }
    const box = el.parentElement && el.parentElement.closest('[data-fit-box]');
    if (own && box) {
      const b = box.getBoundingClientRect();
      if (r.bottom > b.bottom + 1 || r.right > b.right + 1 || r.left < b.left - 1) {
        cut.push(el.className + ':' + el.textContent.trim().slice(0, 30));
      }
    }
  }
  for (const box of [view, ...view.querySelectorAll('[data-fit-box]')]) {
    if (box.scrollHeight > box.clientHeight + 1 || box.scrollWidth > box.clientWidth + 1) {
      over.push(box.className + ':' + box.scrollHeight + '>' + box.clientHeight);
    }
  }
  const least = sel => {
    const found = [...view.querySelectorAll(sel)].filter(shown).map(px);
    return found.length ? Math.min(...found) : null;
  };
  const timer = document.querySelector('.pl-top .timer-clock');
  return {
    scroll: doc.scrollHeight > innerHeight || doc.scrollWidth > innerWidth,
    small: small.slice(0, 5), outside: outside.slice(0, 5), cut: cut.slice(0, 5), over,
    action: least('.pl-action-text'), rank: least('.pl-rank-text'), timer: timer && px(timer),
    pages: parseInt(view.getAttribute('data-pages') || '1', 10),
  };
}"""


async def measure(page: Page) -> dict[str, Any]:
    await page.wait_for_function(
        "() => !!document.querySelector('#plenary-view[data-fitted]')")
    found: dict[str, Any] = await page.evaluate(MEASURE)
    return found


async def every_page_fits(page: Page) -> list[list[str]]:
    """Turn to each page in turn: each fits; the texts of the items each page shows."""
    texts = []
    pages = await page.evaluate("() => window.facilitationBoard.pages()")
    for n in range(pages):
        await page.evaluate("(n) => window.facilitationBoard.show(n)", n)
        assert_fits(await page.evaluate(MEASURE))
        texts.append(await page.locator(
            "#plenary-view [data-page-item]:not([hidden])").all_inner_texts())
    await page.evaluate("() => window.facilitationBoard.show(0)")
    return texts


def assert_fits(m: dict[str, Any]) -> None:
    assert m["scroll"] is False, m
    assert m["small"] == [], m
    assert m["outside"] == [], m
    assert m["cut"] == [], m
    assert m["over"] == [], m


async def open_board(new_context: Any, event: dict[str, Any], size: dict[str, int],
                     problems: list[str], clock: bool = False) -> Page:
    context = await new_context(viewport=size)
    if clock:  # the test moves the board's time on (page.clock) instead of waiting
        await context.clock.install()
    page = await context.new_page()
    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    page.on("console", lambda msg: problems.append(f"console: {msg.text}")
            if msg.type == "error" else None)
    # The projector laptop is the moderator's: its board may show the join codes.
    await page.goto(event["moderator_url"])
    await page.goto(event["plenary_url"])
    await page.locator("#sync[data-state=live]").wait_for()
    return page


async def show(client: httpx.AsyncClient, event: dict[str, Any], page: Page, view: str,
               **extra: Any) -> None:
    # The board swaps in a new view element on every change: wait for one that is fitted.
    await page.evaluate("() => { document.getElementById('plenary-view').dataset.old = ''; }")
    answer = await client.patch(f"/api/events/{event['id']}/plenary", json={"view": view, **extra},
                                headers=auth(event["organiser_token"]))
    assert answer.status_code == 200, answer.text
    await expect(page.locator(
        f"#plenary-view[data-view={view}][data-fitted]:not([data-old])")).to_be_visible()
    if view == "join":
        await expect(page.locator(".pl-qr svg")).to_have_count(len(event["rooms"]))


@pytest.mark.parametrize("size", [HD, SMALL], ids=["1080p", "720p"])
async def test_every_view_fills_the_screen_and_fits(
    server: Server, client: httpx.AsyncClient, new_context: Any, size: dict[str, int]
) -> None:
    event, items = await three_rooms(client)
    problems: list[str] = []
    page = await open_board(new_context, event, size, problems)
    hd = size == HD
    name = f"{size['width']}x{size['height']}"
    for view in VIEWS:
        extra = {"spotlight": event["rooms"][1]["id"]} if view == "spotlight" else {}
        await show(client, event, page, view, **extra)
        m = await measure(page)
        await shot(page, f"board-{name}-{view}", full_page=False)
        assert_fits(m)
        # Three rooms of four actions fit on one page; only the twelve-action ranking
        # at 720p takes two (at 18 px its room names would not fit either).
        assert m["pages"] == (2 if view == "priorities" and not hd else 1), m
        # The countdown reads from the back row on every view: 48 px or more at 1080p.
        assert m["timer"] >= (48 if hd else 32), m
        if view == "rooms":
            assert m["action"] >= (32 if hd else 22), m
        if view == "spotlight":
            assert m["action"] >= (40 if hd else 26), m
        if view == "priorities":
            assert m["rank"] >= (28 if hd else 19), m
        if hd:
            await assert_accessible(page)
    assert problems == []


@pytest.mark.parametrize("size", [HD, SMALL], ids=["1080p", "720p"])
async def test_counts_questions_meters_and_live_updates(
    server: Server, client: httpx.AsyncClient, new_context: Any, size: dict[str, int]
) -> None:
    event, items = await three_rooms(client)
    eid = event["id"]
    organiser = auth(event["organiser_token"])
    problems: list[str] = []
    page = await open_board(new_context, event, size, problems)
    hd = size == HD
    board = page.locator("#plenary-view")

    # All rooms: each column has its guiding question, and counts what it lists; a merge
    # leaves its sources' rooms and is counted once, in the joint actions' column.
    merge = {"id": str(uuid.uuid4()), "items": [items[0][2]["id"], items[1][0]["id"]],
             "text": "One contact list for ports and emergency services"}
    assert (await client.post(f"/api/events/{eid}/merges", json=merge,
                              headers=organiser)).status_code == 201
    await expect(board.locator(".pl-joint-card")).to_contain_text(merge["text"])
    for n, room in enumerate(event["rooms"]):
        column = board.locator(".pl-room").filter(has=page.locator(f"#pl-room-{room['id']}"))
        await expect(column.locator(".pl-prompt")).to_have_text(room["prompt"])
        listed = 4 - (1 if n < 2 else 0)
        await expect(column.locator(".pl-action")).to_have_count(listed)
        await expect(column.locator(".pl-counts")).to_contain_text(f"{listed} actions")
        await expect(column.locator(".pl-counts")).to_contain_text("2 roles")
    await expect(board.locator(".pl-joint-card .pl-counts")).to_contain_text("1 merged")

    # Priorities: one meter per action, its value the action's votes out of all votes,
    # and how many people voted (five people, ten votes; the merge took its sources').
    await show(client, event, page, "priorities")
    await expect(board.locator(".pl-turnout")).to_contain_text("5 people have voted")
    await expect(board.locator(".pl-turnout")).to_contain_text("10 votes")
    rows = board.locator(".pl-rank")
    await expect(rows).to_have_count(11)
    await expect(board.locator(".pl-rank meter")).to_have_count(11)
    meters = await board.locator(".pl-rank").evaluate_all("""rows => rows.map(r => {
        const m = r.querySelector('meter');
        return {value: m.value, max: m.max, role: m.computedRole || 'meter',
                label: m.labels && m.labels.length, name: r.querySelector('.pl-rank-text').textContent,
                votes: parseInt(r.querySelector('.pl-rank-votes').textContent, 10),
                width: m.getBoundingClientRect().width};
    })""")
    assert [m["value"] for m in meters] == sorted((m["value"] for m in meters), reverse=True)
    assert meters[0]["name"] == "Publish what citizens should do in the first 72 hours"
    assert meters[0]["value"] == 3 and meters[0]["votes"] == 3
    assert all(m["max"] == 10 and m["value"] == m["votes"] for m in meters)
    assert sum(m["value"] for m in meters) == 10
    # The accessible name of each meter is its action's text (on the first page).
    await page.evaluate("() => window.facilitationBoard.show(0)")
    first = board.get_by_role("meter", name="Publish what citizens should do in the first 72 hours")
    await expect(first).to_have_count(1)
    # Live: a new vote moves the meter without a reload; the layout still fits.
    await client.post(f"/api/events/{eid}/votes", headers=organiser,
                      json={"item": items[2][1]["id"], "voter": "fay"})
    await expect(board.locator(".pl-turnout")).to_contain_text("6 people have voted")
    await expect(board.locator(".pl-rank meter").first).to_have_attribute("max", "11")
    assert_fits(await measure(page))

    # Goal alignment: the goal nobody addressed stands out.
    await show(client, event, page, "goals")
    gap = board.locator("tr.gap")
    await expect(gap).to_have_count(1)
    await expect(gap).to_contain_text("Secure digital communications")
    await expect(gap).to_contain_text("No room addressed this")
    assert await gap.locator("th").evaluate(
        "th => getComputedStyle(th).backgroundColor") != await board.locator(
        "tbody tr:not(.gap) th").first.evaluate("th => getComputedStyle(th).backgroundColor")

    # Roles: actors x roles; two leads for one responsibility, and what nobody leads.
    await show(client, event, page, "roles")
    heads = await board.locator(".pl-roles-grid thead th").all_inner_texts()
    assert heads[:1] == ["Actor"] and {"Lead", "Participant", "Data owner"} <= set(heads)
    await expect(board.locator(".pl-conflicts")).to_contain_text(
        "Two leads for one responsibility")
    await expect(board.locator(".pl-conflicts")).to_contain_text(
        "Nobody leads: Bring local emergency plans")
    await expect(board.locator("tr.conflict")).to_have_count(2)
    await expect(board.locator(".pl-cell-role.flagged")).to_have_count(2)

    # Live: an item added through the API appears without a reload, and it still fits.
    await show(client, event, page, "rooms")
    marker = await page.evaluate("() => (window.__same = 1)")
    room = event["rooms"][2]
    added = await client.post(
        f"/api/events/{eid}/rooms/{room['id']}/items", headers=auth(room["join_token"]),
        json=item_body("Test the cell broadcast warning with every municipality",
                       owner="County governor", due="2027-10-01"))
    assert added.status_code == 201
    column = board.locator(".pl-room").filter(has=page.locator(f"#pl-room-{room['id']}"))
    await expect(column).to_contain_text("Test the cell broadcast warning")
    await expect(column.locator(".pl-counts")).to_contain_text("5 actions")
    assert await page.evaluate("() => window.__same") == marker  # the same page, not reloaded
    m = await measure(page)
    assert_fits(m)
    # Four columns now (the joint actions'), five actions in one: smaller, still above the
    # board's readable floor (2.2 % of the height, 18 px at least), on one page at 1080p.
    assert m["action"] >= (23.7 if hd else 18), m
    assert m["pages"] == 1 or not hd, m

    # No horizontal overflow, ever: not even from words longer than a column.
    long = "Totalforsvarsberedskapskoordineringsmekanismeutviklingsprosjektet"
    answer = await client.post(
        f"/api/events/{eid}/rooms/{room['id']}/items", headers=auth(room["join_token"]),
        json=item_body(f"{long} {long}", owner=long, due="2027-10-01"))
    assert answer.status_code == 201
    await expect(column.locator(".pl-counts")).to_contain_text("6 actions")
    await measure(page)
    seen = await every_page_fits(page)
    assert any(long in text for texts in seen for text in texts)
    for view in ("spotlight", "priorities"):
        await show(client, event, page, view, spotlight=room["id"])
        await measure(page)
        seen = await every_page_fits(page)
        assert any(long in text for texts in seen for text in texts)
    await show(client, event, page, "rooms")

    # The dark theme, chosen on the moderator page, reaches the board live.
    moderator = await (await new_context(viewport={"width": 1440, "height": 900})).new_page()
    moderator.on("pageerror", lambda exc: problems.append(f"moderator: {exc}"))
    await moderator.goto(event["moderator_url"])
    await moderator.locator("#sync[data-state=live]").wait_for()
    await moderator.get_by_role("button", name="High contrast (dark)").click()
    await expect(board).to_have_attribute("data-theme", "dark")
    background = await page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(0, 0, 0)"
    await assert_accessible(page)
    for view in VIEWS:
        await show(client, event, page, view)
        assert_fits(await measure(page))
        await shot(page, f"board-dark-{size['width']}x{size['height']}-{view}", full_page=False)
    assert problems == []


async def hold_clock(page: Page) -> None:
    """Pause the page's clock a moment from now. The page's time runs on between reading it
    and pausing; on a loaded machine that took more than 50 ms once and Playwright refused
    to "fast-forward to the past", so the moment is a second ahead and read again if even
    that has passed. Timers due within that second fire as they would have."""
    for _ in range(5):
        moment = await page.evaluate("() => Date.now()") + 1000
        try:
            await page.clock.pause_at(moment / 1000)
            return
        except PlaywrightError as error:
            if "to the past" not in str(error):
                raise
    raise AssertionError("the page's clock could not be held")


@pytest.mark.parametrize("size", [HD, SMALL], ids=["1080p", "720p"])
async def test_six_rooms_of_ten_actions_page_themselves(
    server: Server, client: httpx.AsyncClient, new_context: Any, size: dict[str, int]
) -> None:
    event = await six_rooms_of_ten(client)
    problems: list[str] = []
    page = await open_board(new_context, event, size, problems, clock=True)
    name = f"{size['width']}x{size['height']}"
    for view in ("rooms", "priorities"):
        await show(client, event, page, view)
        m = await measure(page)
        await shot(page, f"board-{name}-{view}-paged", full_page=False)
        # More than one page, each readable: nothing cut, nothing past the screen, no text
        # under 18 px; the page shows in the top bar.
        assert m["pages"] >= 2, m
        assert_fits(m)
        pager = page.locator("#pl-pager")
        await expect(pager).to_be_visible()
        await expect(pager).to_contain_text(re.compile(rf"Page [12] of {m['pages']}"))
        shown = await page.locator("#plenary-view [data-page-item]:not([hidden])").count()
        hidden = await page.locator("#plenary-view [data-page-item][hidden]").count()
        assert shown and hidden, (shown, hidden)
        # The board turns to the next page by itself, every 12 seconds (README), and that
        # page fits too. The page's clock is held, then moved on by the rhythm: one turn,
        # and the test need not sit through the 12 seconds.
        rhythm = await pager.locator(".pl-pager-bar").evaluate(
            "bar => bar.style.getPropertyValue('--page-ms')")
        assert rhythm == f"{PAGE_MS}ms"
        await hold_clock(page)
        now = int(await page.locator("#plenary-view").get_attribute("data-page") or "1")
        first = await page.locator("#plenary-view [data-page-item]:not([hidden])").all_inner_texts()
        await page.clock.fast_forward(PAGE_MS)
        await page.clock.resume()
        # The next page; after the last, the first (the board goes round).
        await expect(pager).to_contain_text(f"Page {now % m['pages'] + 1} of {m['pages']}")
        assert_fits(await measure(page))
        second = await page.locator(
            "#plenary-view [data-page-item]:not([hidden])").all_inner_texts()
        assert second != first
    # Every page fits, and the pages cover the whole ranking, each action once.
    seen = await every_page_fits(page)
    ranked = [text for texts in seen for text in texts]
    assert len(ranked) == 60 and len(set(ranked)) == 60
    assert problems == []


async def test_moderator_shows_joint_sources_in_full_and_edits_their_goals(
    server: Server, client: httpx.AsyncClient, new_context: Any
) -> None:
    event, items = await three_rooms(client)
    eid = event["id"]
    organiser = auth(event["organiser_token"])
    # Two sources that read the same for their first 40 characters.
    merge = {"id": str(uuid.uuid4()), "items": [items[0][2]["id"], items[1][0]["id"]],
             "text": "One contact list for ports and emergency services"}
    assert (await client.post(f"/api/events/{eid}/merges", json=merge,
                              headers=organiser)).status_code == 201
    problems: list[str] = []
    moderator = await (await new_context(viewport={"width": 1440, "height": 900})).new_page()
    moderator.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    moderator.on("console", lambda msg: problems.append(f"console: {msg.text}")
                 if msg.type == "error" else None)
    await moderator.goto(event["moderator_url"])
    await moderator.locator("#sync[data-state=live]").wait_for()
    joint = moderator.locator("#mod-live .mod-item").filter(has_text=merge["text"])
    sources = joint.locator("details.sources")
    await sources.locator("summary").click()
    for source in (items[0][2], items[1][0]):
        await expect(sources).to_contain_text(source["text"])  # whole, not cut at 40
        await expect(sources).to_contain_text(source["owner"])
    # Opened stays opened when the live region is fetched again after a change.
    await client.post(f"/api/events/{eid}/rooms/{event['rooms'][0]['id']}/items",
                      headers=organiser, json=item_body("Something else changes"))
    await expect(moderator.locator("#mod-live")).to_contain_text("Something else changes")
    await expect(joint.locator("details.sources")).to_have_attribute("open", "")

    # The joint action's goals: on and off from the moderator page.
    digital = moderator.locator("#mod-live .mod-item").filter(has_text=merge["text"]).get_by_role(
        "button", name="Secure digital communications")
    await expect(digital).to_have_attribute("aria-pressed", "false")
    await digital.click()
    await expect(digital).to_have_attribute("aria-pressed", "true")
    found = (await client.get(f"/api/events/{eid}/merges", headers=organiser)).json()
    goals = {g["text"]: g["id"] for g in event["goals"]}
    mine = next(m for m in (found if isinstance(found, list) else found["merges"])
                if m["id"] == merge["id"])
    assert goals["Secure digital communications"] in mine["goals"]
    # A goal it took from its sources goes off it, and off the goal alignment's count.
    shared = moderator.locator("#mod-live .mod-item").filter(has_text=merge["text"]).get_by_role(
        "button", name="Shared situational picture across sectors")
    await expect(shared).to_have_attribute("aria-pressed", "true")
    await shared.click()
    await expect(shared).to_have_attribute("aria-pressed", "false")
    found = (await client.get(f"/api/events/{eid}/merges", headers=organiser)).json()
    mine = next(m for m in (found if isinstance(found, list) else found["merges"])
                if m["id"] == merge["id"])
    assert goals["Shared situational picture across sectors"] not in mine["goals"]
    outcomes = (await client.get(f"/api/events/{eid}/outcomes.json", headers=organiser)).json()
    shared_row = next(row for row in outcomes["goal_alignment"]
                      if row["text"] == "Shared situational picture across sectors")
    assert shared_row["total"] == 2  # the other room's item and the dashboard, not the merge
    await assert_accessible(moderator)
    await shot(moderator, "moderator-joint-actions")
    assert problems == []



async def test_a_change_reaches_the_board_at_once_then_at_most_every_400_ms(
    server: Server, client: httpx.AsyncClient, new_context: Any
) -> None:
    """The moderator's click shows on the projector without a wait; a burst of changes
    after it is fetched at most every 400 ms (static/app.js), so screens do not storm."""
    event, _ = await three_rooms(client)
    page = await open_board(new_context, event, HD, [], clock=True)
    dirty = page.locator("#plenary-dirty")
    view_url = f"{server.url}/e/{event['id']}/plenary/view"
    fetches: list[str] = []
    page.on("request", lambda r: fetches.append(r.url) if r.url.startswith(view_url) else None)
    await hold_clock(page)  # from here the page's timers run only when the test says

    async def change(view: str) -> None:
        seq = await dirty.get_attribute("data-seq")
        answer = await client.patch(f"/api/events/{event['id']}/plenary", json={"view": view},
                                    headers=auth(event["organiser_token"]))
        assert answer.status_code == 200
        await expect(dirty).not_to_have_attribute("data-seq", seq or "")

    await change("priorities")
    async with page.expect_request(lambda r: r.url.startswith(view_url)):
        await page.clock.run_for(1)  # the first change: fetched at once
    await change("goals")
    await page.clock.run_for(200)
    await page.wait_for_timeout(300)  # real time: a fetch due now would have been sent
    assert len(fetches) == 1, fetches  # the second waits for 400 ms since the first
    async with page.expect_request(lambda r: r.url.startswith(view_url)):
        await page.clock.run_for(200)
    assert len(fetches) == 2, fetches

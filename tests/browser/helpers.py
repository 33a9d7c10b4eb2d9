"""What a person does in the browser, as small reusable steps."""

from __future__ import annotations

from typing import Any

from playwright.async_api import BrowserContext, Locator, Page, expect


async def join_room(context: BrowserContext, room: dict[str, Any], name: str,
                    org: str = "") -> Page:
    """Open the room's link, give a name, and wait until the page is live."""
    page = await context.new_page()
    await page.goto(room["join_url"])
    await page.locator("#name").fill(name)
    if org:
        await page.locator("#org").fill(org)
    await page.locator("form[action$='/name'] button[type=submit]").click()
    await wait_live(page)
    return page


async def wait_live(page: Page) -> None:
    await expect(page.locator("#sync")).to_have_attribute("data-state", "live")


def entry(page: Page, kind: str, text: str) -> Locator:
    """The one item or role entry of the page whose text contains ``text``."""
    return page.locator(f"li.entry.{kind}").filter(has_text=text)


async def add_item(page: Page, text: str, owner: str = "", due: str = "") -> None:
    form = page.locator("#item-form")
    await form.locator("#item-text").fill(text)
    if owner:
        await form.locator("#item-owner").fill(owner)
    if due:
        await form.locator("#item-due").fill(due)
    await form.locator("button[type=submit]").click()
    await expect(entry(page, "item", text)).to_have_count(1)
    # The form comes back empty, ready for the next one.
    await expect(page.locator("#item-text")).to_have_value("")


async def add_role(page: Page, actor: str, role: str, responsibility: str = "") -> None:
    form = page.locator("#role-form")
    await form.locator("#role-actor").fill(actor)
    await form.locator("#role-role").fill(role)
    if responsibility:
        await form.locator("#role-responsibility").fill(responsibility)
    await form.locator("button[type=submit]").click()
    await expect(entry(page, "role", actor)).to_have_count(1)


async def focused(page: Page) -> dict[str, Any]:
    """What has the keyboard focus, and whether its focus indicator is visible."""
    found: dict[str, Any] = await page.evaluate(
        """() => {
            const el = document.activeElement;
            if (!el || el === document.body) return {tag: "body"};
            const style = getComputedStyle(el);
            const visible = (style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2)
                || style.boxShadow !== "none";
            return {tag: el.tagName.toLowerCase(), id: el.id, name: el.getAttribute("name"),
                    text: (el.innerText || el.value || "").trim().slice(0, 80),
                    label: el.getAttribute("aria-label") || "", visible: visible};
        }"""
    )
    return found


async def tab_to(page: Page, selector: str, limit: int = 80, backwards: bool = False) -> None:
    """Press Tab until the focused element matches ``selector``; its focus must show."""
    for _ in range(limit):
        await page.keyboard.press("Shift+Tab" if backwards else "Tab")
        hit = await page.evaluate(
            "(sel) => !!document.activeElement && document.activeElement.matches(sel)", selector)
        if hit:
            state = await focused(page)
            if state["tag"] == "body":
                # A live update re-rendered the control between the two reads: the page
                # must put the focus back on its new copy (static/app.js, restoreFocus).
                await page.wait_for_function(
                    "(sel) => !!document.activeElement && document.activeElement.matches(sel)",
                    arg=selector, timeout=3000)
                state = await focused(page)
            assert state.get("visible"), f"no visible focus on {state}"
            return
    raise AssertionError(f"Tab never reached {selector!r}; last focus {await focused(page)}")


async def open_menu(item: Locator) -> Locator:
    """Open an entry's menu of actions (agree, edit, delete); the entry, for chaining."""
    menu = item.locator("details.entry-menu")
    if not await menu.evaluate("el => el.open"):
        await menu.locator("summary").click()
    await expect(menu).to_have_attribute("open", "")
    return item


async def act(item: Locator, role: str, name: str) -> None:
    """Use one of an entry's actions from its menu: ``act(entry, "button", "Mark agreed")``."""
    await (await open_menu(item)).get_by_role(role, name=name).click()  # type: ignore[arg-type]


async def count_polls(page: Page) -> None:
    """Count the page's "who is here" polls (every 3 s) whose answer it has handled."""
    await page.evaluate(
        """() => { window.__polls = 0;
            document.addEventListener('htmx:afterOnLoad', (e) => {
                if (e.detail.elt.matches('.presence-poll')) window.__polls += 1; }); }""")


async def through_a_poll(page: Page) -> None:
    """Move the page's clock (its context's clock installed) on by the 3 s of the "who is
    here" poll and wait until the page has handled its answer, and the answer of any other
    request that came due meanwhile (htmx marks each in flight): as if the test had waited."""
    before = await page.evaluate("() => window.__polls")
    await page.clock.fast_forward(3000)
    await page.wait_for_function(
        "(n) => window.__polls > n && !document.querySelector('.htmx-request')", arg=before)

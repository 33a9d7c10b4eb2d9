"""Browser fixtures: Debian's chromium driven by Playwright against the real app.

Playwright's own browser download cannot work on these machines, so the tests use
the distribution's chromium (installed here with apt-get when missing) and hand it
to Playwright as its executable. One browser per session; each test opens its own
contexts (a context is one person: its own cookies, its own session).

Helpers:
- ``shot(page, name)`` saves a PNG into tests/artifacts/ (gitignored) for review, when
  ``TEST_SCREENSHOTS=1`` asks for them;
- ``assert_accessible(page)`` runs the vendored axe-core in the page and fails on any
  serious or critical violation;
- ``problems`` (used by ``new_context``, so by every browser test): every console
  error, uncaught page error, Content-Security-Policy violation and failed request of
  every page the test opened. Any one of them fails the test, unless the test says
  beforehand that it provokes it (``problems.allow(pattern, why)``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from tests.conftest import Server

HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE.parent / "artifacts"
AXE = HERE.parent / "vendor" / "axe-core-4.14.1.min.js"

LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
PROJECTOR = {"width": 1920, "height": 1080}

# Assertions wait as long as actions do (new_context's default timeout): the suite runs
# on every core at once (pytest-xdist), and 5 s, Playwright's default, is tight for a
# page on a loaded 2-core machine. A broken page still fails within seconds.
expect.set_options(timeout=10_000)

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]


def _apt_install_chromium() -> None:
    """``apt-get install chromium``, refreshing the package lists once if that fails."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "chromium"]
    if subprocess.run(install, env=env, capture_output=True).returncode == 0:
        return
    subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
    subprocess.run(install, env=env, capture_output=True)


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium_path() -> str:
    """Debian's chromium; installed when missing. In CI a missing browser fails the run."""
    found = find_chromium()
    if found is None and hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        _apt_install_chromium()
        found = find_chromium()
    if found is not None:
        return found
    if os.environ.get("CI"):
        pytest.fail("chromium is required in CI and could not be installed with apt-get")
    pytest.skip("no chromium here: `apt-get install chromium` to run the browser tests")


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    executable = chromium_path()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield launched
        await launched.close()


# Reported by the page itself: the browser's own "Refused to ..." console line says
# what was refused but not always which element; this adds the directive and source.
CSP_REPORTER = """
document.addEventListener("securitypolicyviolation", function (e) {
  console.error("CSP violation: " + e.violatedDirective + " blocked " + (e.blockedURI || "inline")
                + " at " + (e.sourceFile || "") + ":" + (e.lineNumber || 0)
                + " sample " + JSON.stringify(e.sample || ""));
});
"""

# A request the page itself gave up (a navigation or reload cutting a fetch short, the
# outbox abandoning a send on a dead link to send it again at once): not a failure.
ABORTED = "net::ERR_ABORTED"
# What a test causes by taking a context offline: allowed in the contexts it took offline.
OFFLINE = re.compile(r"ERR_INTERNET_DISCONNECTED|ERR_NETWORK_CHANGED|ERR_NAME_NOT_RESOLVED")


class Problems:
    """Console errors, page errors, CSP violations and failed requests of a test's pages.

    Each is one line: ``console: ...``, ``page error: ...``, ``csp: ...``,
    ``request failed: GET <url> <reason>`` or ``http <status>: POST <url>``. A test
    that provokes some on purpose (a stale edit answers 409, a locked room 423, a
    restarted server drops its sockets) allows them first, by a regular expression
    searched in the line, with the reason it is expected.
    """

    def __init__(self) -> None:
        self.seen: list[tuple[str, bool]] = []  # (line, whether its context went offline)
        self.allowed: list[tuple[re.Pattern[str], str]] = []

    def allow(self, pattern: str, why: str) -> None:
        assert why, "say why the problem is expected"
        self.allowed.append((re.compile(pattern), why))

    def expected(self, line: str, offline: bool) -> bool:
        if offline and OFFLINE.search(line):
            return True
        return any(pattern.search(line) for pattern, _ in self.allowed)

    def unexpected(self) -> list[str]:
        return [line for line, offline in self.seen if not self.expected(line, offline)]

    def take(self) -> list[str]:
        """Every line seen so far, forgotten (for tests of this harness itself)."""
        lines = [line for line, _ in self.seen]
        self.seen.clear()
        return lines

    async def watch(self, context: BrowserContext) -> None:
        offline = {"went": False}
        original = context.set_offline

        async def set_offline(value: bool) -> None:
            offline["went"] = offline["went"] or value
            await original(value)

        context.set_offline = set_offline  # type: ignore[method-assign]

        def note(line: str) -> None:
            self.seen.append((line, offline["went"]))

        def on_console(message: Any) -> None:
            if message.type != "error":
                return
            text = message.text
            if text.startswith("Failed to load resource"):
                return  # the same failure is noted with its URL by on_response / on_failed
            note(("csp: " if "Content Security Policy" in text or text.startswith("CSP violation")
                  else "console: ") + text)

        def on_response(response: Any) -> None:
            if response.status >= 400:
                note(f"http {response.status}: {response.request.method} {response.url}")

        def on_failed(request: Any) -> None:
            failure = request.failure or ""
            if ABORTED not in failure:
                note(f"request failed: {request.method} {request.url} {failure}")

        def on_page(page: Page) -> None:
            page.on("console", on_console)
            page.on("pageerror", lambda error: note(f"page error: {error}"))
            page.on("response", on_response)
            page.on("requestfailed", on_failed)

        context.on("page", on_page)
        await context.add_init_script(CSP_REPORTER)


@pytest.fixture
def problems() -> Problems:
    return Problems()


@pytest.fixture
async def new_context(
    browser: Browser, server: Server, problems: Problems
) -> AsyncIterator[Any]:
    """A factory of browser contexts (one per person); all closed after the test.

    Every page of every context is watched (``problems``): after the test, any console
    error, page error, CSP violation or failed request it did not allow fails it.
    """
    opened: list[BrowserContext] = []

    async def make(viewport: dict[str, int] | None = None, **options: Any) -> BrowserContext:
        # Each person asks for less motion unless the test says otherwise: the arrival
        # highlight and the pager's bar are decoration (app.css turns them off for
        # `prefers-reduced-motion`), and while one runs chromium paints every frame. The
        # suite is bound by chromium's CPU, and the motion cost it a sixth (314 against
        # 260 CPU-seconds for tests/browser). test_accessibility.py checks both ways.
        options = {"reduced_motion": "reduce", **options}
        context = await browser.new_context(
            base_url=server.url, viewport=viewport or LAPTOP, **options)
        # Assertions wait for live changes; a broken page must fail within seconds.
        context.set_default_timeout(10_000)
        await problems.watch(context)
        opened.append(context)
        return context

    yield make
    for context in opened:
        await context.close()
    unexpected = problems.unexpected()
    assert not unexpected, "the pages reported problems:\n" + "\n".join(unexpected[:40])


# Screenshots are for people reviewing the pages (``TEST_SCREENSHOTS=1``), not
# assertions: a full-page PNG costs chromium a few hundred milliseconds of a shared core,
# so the suite takes them only when asked.
SCREENSHOTS = os.environ.get("TEST_SCREENSHOTS", "") not in ("", "0")


async def shot(page: Page, name: str, full_page: bool = True, from_top: bool = True) -> None:
    """Save a screenshot for review into tests/artifacts/<name>.png (``TEST_SCREENSHOTS=1``)."""
    if not SCREENSHOTS:
        return
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    if from_top:  # so a sticky header sits where a person sees it
        await page.evaluate("() => window.scrollTo(0, 0)")
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


SEVERE = ("serious", "critical")


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Run axe-core (WCAG 2.x A/AA rules and best practices) in the page."""
    if not await page.evaluate("() => typeof window.axe !== 'undefined'"):
        # Evaluated through the devtools protocol, so the page's CSP (no inline
        # scripts) stays as strict as it ships and still lets the check run.
        await page.evaluate(AXE.read_text(encoding="utf-8") + "\n;true")
    result: dict[str, Any] = await page.evaluate(
        """async () => await window.axe.run(document, {
               runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa",
                                               "wcag22aa", "best-practice"]},
               resultTypes: ["violations"]})"""
    )
    return list(result["violations"])


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        targets = [", ".join(n["target"]) for n in v["nodes"][:3]]
        lines.append(f"{v['impact']}: {v['id']} ({v['help']}) at {targets}")
    return "\n".join(lines)


async def assert_accessible(page: Page) -> None:
    """Fail on any serious or critical axe-core violation in the page as it is now."""
    violations = [v for v in await axe_violations(page) if v.get("impact") in SEVERE]
    assert not violations, f"axe-core on {page.url}:\n{describe(violations)}"

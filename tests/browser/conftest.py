"""Browser fixtures: Debian's chromium driven by Playwright against the real app.

Playwright's own browser download cannot work on these machines, so the tests use
the distribution's chromium (installed here with apt-get when missing) and hand it
to Playwright as its executable. One browser per session; each test opens its own
contexts (a context is one person: its own cookies, its own session).

Helpers:
- ``shot(page, name)`` saves a PNG into tests/artifacts/ (gitignored) for review;
- ``assert_accessible(page)`` runs the vendored axe-core in the page and fails on any
  serious or critical violation.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from tests.conftest import Server

HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE.parent / "artifacts"
AXE = HERE.parent / "vendor" / "axe-core-4.14.1.min.js"

LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
PROJECTOR = {"width": 1920, "height": 1080}

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


@pytest.fixture
async def new_context(browser: Browser, server: Server) -> AsyncIterator[Any]:
    """A factory of browser contexts (one per person); all closed after the test."""
    opened: list[BrowserContext] = []

    async def make(viewport: dict[str, int] | None = None, **options: Any) -> BrowserContext:
        context = await browser.new_context(
            base_url=server.url, viewport=viewport or LAPTOP, **options)
        # Assertions wait for live changes; a broken page must fail within seconds.
        context.set_default_timeout(10_000)
        opened.append(context)
        return context

    yield make
    for context in opened:
        await context.close()


async def shot(page: Page, name: str, full_page: bool = True) -> Path:
    """Save a screenshot for review into tests/artifacts/<name>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    # From the top, so a sticky header sits where a person sees it.
    await page.evaluate("() => window.scrollTo(0, 0)")
    await page.screenshot(path=str(path), full_page=full_page)
    return path


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

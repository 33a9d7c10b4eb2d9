"""The printed report, as Chromium's "Save as PDF" makes it, for an event of the size
leadership gets (6 rooms, 161 actions, 46 roles, 5 joint actions, 90 votes).

The summary is on the first two A4 pages and the whole report is at most 12, in
English and in Norwegian; the page passes axe. Pages are counted with poppler
(pdfinfo, pdftotext), as a person would count them.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from facilitation.outcomes import build, export, sample
from facilitation.outcomes.words import Words
from tests.browser.conftest import assert_accessible
from tests.conftest import Server

pytestmark = pytest.mark.browser

AT = datetime(2026, 11, 25, 18, tzinfo=UTC)
MAX_PAGES = 12


def page_texts(pdf: Path) -> list[str]:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    found = re.search(r"^Pages:\s+(\d+)", info.stdout, re.MULTILINE)
    assert found
    return [subprocess.run(["pdftotext", "-f", str(n), "-l", str(n), str(pdf), "-"],
                           capture_output=True, text=True, check=True).stdout
            for n in range(1, int(found.group(1)) + 1)]


def first_page_with(pages: list[str], needle: str) -> int:
    flat = [" ".join(p.split()) for p in pages]
    return next(n for n, text in enumerate(flat, start=1) if " ".join(needle.split()) in text)


@pytest.mark.parametrize(("language", "followed_up"), [("en", False), ("nb", False), ("en", True)])
async def test_the_summary_fills_pages_one_and_two_of_at_most_twelve(
        server: Server, new_context: Any, tmp_path: Path, language: str, followed_up: bool
) -> None:
    if not (shutil.which("pdfinfo") and shutil.which("pdftotext")):
        pytest.skip("poppler-utils (pdfinfo, pdftotext) is not installed")
    board = sample.board(language)
    if followed_up:  # owners reported on some actions after the event
        log = sample.Log()
        log.board = board
        for item in ("i003", "i004", "i005", "i010", "i020"):
            log.do("progress", "create", item, None, {
                "status": "in_progress", "progress": 40, "by": "owner",
                "note": "Meeting held; agreement drafted, waiting for the county"})
    # Off the event loop, as the server renders exports: on the loop, the roles matrix
    # would answer with the conflicts compared so far (follow.py).
    o = await asyncio.to_thread(build, board, AT)
    html = (await asyncio.to_thread(export, board, "html", AT)).body.decode()
    _ = Words(language)
    context = await new_context()
    page = await context.new_page()
    await page.set_content(html)
    await assert_accessible(page)
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(await page.pdf(format="A4", print_background=True,
                                   prefer_css_page_size=True))
    pages = page_texts(pdf)
    assert len(pages) <= MAX_PAGES, len(pages)
    # Everything of the summary on pages 1 and 2: its last table's last row included.
    for heading in (_("Top actions by votes"), _("Joint actions"), _("Goal coverage"),
                    _("Without an owner or a due date")):
        assert first_page_with(pages, heading) <= 2, heading
    last_gap = o.unassigned[-1]
    assert first_page_with(pages, f"{last_gap.ref} ") <= 2
    assert first_page_with(pages, o.conflicts[-1].responsibility) <= 2
    # The appendix starts on page 3, with every room and every owner after it.
    assert first_page_with(pages, _("Appendix: the rooms")) == 3
    assert first_page_with(pages, _("Appendix: actions by owner")) > 3
    assert "R6.26" in "".join(pages[2:])

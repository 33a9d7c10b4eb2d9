"""Render the outcomes as organisers would see them, to PNG pages for review (not a test).

    python -m benchmarks.render_outcomes [--out DIR] [--language en --language nb]

For the sample event (facilitation.outcomes.sample: 6 rooms, 161 actions, 46 roles,
5 joint actions, 90 votes) in each language, it writes every export to DIR/<lang>/,
prints the HTML report with headless Chromium to PDF (A4, as "Save as PDF" does),
converts the spreadsheet with LibreOffice to PDF (its print setup: landscape, fit to
width), and turns both PDFs into PNG pages with pdftoppm. It prints the page counts
and on which page the report's appendix starts (the summary must fit on pages 1-2).

Needs chromium, soffice (libreoffice-calc) and pdftoppm/pdfinfo (poppler-utils).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from facilitation.outcomes import FORMATS, export, sample
from facilitation.outcomes.words import Words

AT = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)


def run(*command: str, timeout: int = 300) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed: {done.stderr[-2000:]}")
    return done.stdout


def pages(pdf: Path) -> int:
    found = re.search(r"^Pages:\s+(\d+)", run("pdfinfo", str(pdf)), re.MULTILINE)
    return int(found.group(1)) if found else 0


def page_of(pdf: Path, needle: str) -> int | None:
    """The first page whose text contains ``needle`` (pdftotext, page by page)."""
    for page in range(1, pages(pdf) + 1):
        text = run("pdftotext", "-f", str(page), "-l", str(page), "-layout", str(pdf), "-")
        if needle in text:
            return page
    return None


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return name
    raise SystemExit("chromium is not installed")


def print_html(html: Path, pdf: Path) -> None:
    with tempfile.TemporaryDirectory() as profile:
        run(chromium(), "--headless", "--no-sandbox", "--disable-gpu",
            f"--user-data-dir={profile}", "--no-pdf-header-footer",
            f"--print-to-pdf={pdf}", html.resolve().as_uri())


def spreadsheet_pdf(xlsx: Path, folder: Path) -> Path:
    with tempfile.TemporaryDirectory() as profile:
        run("soffice", f"-env:UserInstallation=file://{profile}", "--headless",
            "--convert-to", "pdf", "--outdir", str(folder), str(xlsx))
    return folder / (xlsx.stem + ".pdf")


def to_png(pdf: Path, stem: Path, last: int | None = None) -> None:
    args = ["pdftoppm", "-png", "-r", "80"]
    if last is not None:
        args += ["-l", str(last)]
    run(*args, str(pdf), str(stem))


def render(language: str, out: Path) -> dict[str, object]:
    folder = out / language
    folder.mkdir(parents=True, exist_ok=True)
    board = sample.board(language)
    files = {}
    for fmt in FORMATS:
        result = export(board, fmt, AT)
        path = folder / ("outcomes." + fmt)
        path.write_bytes(result.body)
        files[fmt] = path
    report_pdf = folder / "report.pdf"
    print_html(files["html"], report_pdf)
    to_png(report_pdf, folder / "report")
    sheet_pdf = spreadsheet_pdf(files["xlsx"], folder)
    to_png(sheet_pdf, folder / "spreadsheet", last=8)
    appendix = Words(language)("Appendix: the rooms")
    return {
        "language": language,
        "report_pages": pages(report_pdf),
        "appendix_starts_on_page": page_of(report_pdf, appendix),
        "spreadsheet_pages": pages(sheet_pdf),
        "folder": str(folder),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="benchmarks/results/outcomes-review")
    parser.add_argument("--language", action="append", choices=["en", "nb", "fr"])
    args = parser.parse_args(argv)
    for language in args.language or ["en", "nb"]:
        print(render(language, Path(args.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

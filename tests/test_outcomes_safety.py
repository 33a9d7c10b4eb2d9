"""The escaping rules of the exports, as properties over any text a room could type."""

from __future__ import annotations

import csv
import html
import io
from datetime import UTC, datetime

import icalendar
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from facilitation.outcomes.calendar import escape, fold
from facilitation.outcomes.safety import md_text, neutralise, printable

# The spreadsheet rules (OWASP, CSV injection): a cell that starts with one of these is,
# or can become, a formula. Written out from the rules, not taken from the code.
OWASP_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")

# Letters of several scripts, emoji, ASCII punctuation and spaces: what rooms type.
TYPED = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x20, max_codepoint=0x7E),
        st.sampled_from("æøåÆØÅéèçàüß—–…«»“”’"),
        st.sampled_from("مرحبا بالعالم"),
        st.sampled_from("🚢🔥🧭⚡👩🏽‍🚒"),
        st.sampled_from("\t\n\r\u2028\u2029\x85"),
    ),
    max_size=80,
)
MARKDOWN = MarkdownIt("commonmark")


def one_line(text: str) -> str:
    return " ".join(printable(text).split())


@settings(max_examples=300, deadline=None)
@given(TYPED)
def test_markdown_shows_any_line_literally(text: str) -> None:
    line = one_line(text)
    rendered = MARKDOWN.render(md_text(line)) if line else ""
    if not line:
        return
    assert rendered.startswith("<p>") and rendered.endswith("</p>\n"), rendered
    inner = rendered[3:-5]
    assert "<" not in inner.replace("&lt;", "")  # no element from the text, of any kind
    assert html.unescape(inner) == line


@settings(max_examples=200, deadline=None)
@given(TYPED)
def test_markdown_keeps_lines_inside_one_block(text: str) -> None:
    lines = [one_line(x) for x in printable(text).split("\n") if one_line(x)]
    if not lines:
        return
    rendered = MARKDOWN.render("- " + md_text("\n".join(lines), "  "))
    assert rendered.count("<li>") == 1 and "<h" not in rendered and "<pre" not in rendered
    body = rendered.split("<li>", 1)[1].split("</li>", 1)[0]
    assert [html.unescape(x.strip()) for x in body.split("<br />")] == lines


@settings(max_examples=300, deadline=None)
@given(TYPED)
def test_csv_cells_are_never_formulas_and_keep_the_text(text: str) -> None:
    cell = neutralise(printable(text))
    out = io.StringIO()
    csv.writer(out).writerow([cell, "x"])
    [read] = list(csv.reader(io.StringIO(out.getvalue(), newline="")))
    assert read[0] == cell and not read[0].startswith(OWASP_STARTS)
    original = printable(text)
    assert read[0] == original or read[0] == "'" + original


def test_every_formula_start_of_the_rules_is_neutralised() -> None:
    for start in OWASP_STARTS:
        for formula in (f"{start}=1+1", f"{start}cmd|' /C calc'!A0", start):
            assert neutralise(formula) == "'" + formula, repr(formula)
            # As the CSV writer sees it: line ends normalised first, then neutralised.
            cell = neutralise(printable(formula))
            assert cell.startswith("'"), repr(formula)


def test_a_cell_starting_with_a_line_break_of_any_kind_is_neutralised() -> None:
    # A CR becomes LF before the check, so LF itself must be caught (the CR rule alone
    # would never fire); the Unicode line breaks become LF too.
    for brk in ("\r", "\n", "\r\n", "\u2028", "\u2029", "\x85"):
        assert neutralise(printable(brk + "=HYPERLINK(1)")) == "'\n=HYPERLINK(1)", repr(brk)


@settings(max_examples=200, deadline=None)
@given(TYPED, TYPED)
def test_ics_text_survives_folding_and_a_real_parser(summary: str, owner: str) -> None:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", "BEGIN:VEVENT",
             "UID:1@test", "DTSTAMP:20261125T090000Z", "DTSTART;VALUE=DATE:20261201",
             f"SUMMARY:{escape(summary)}", f"DESCRIPTION:{escape(owner)}", "END:VEVENT",
             "END:VCALENDAR"]
    raw = "".join(fold(line) for line in lines).encode()
    assert all(len(line) <= 75 for line in raw.split(b"\r\n"))
    [event] = icalendar.Calendar.from_ical(raw).walk("VEVENT")
    expected = printable(summary).replace("\t", " ")
    assert str(event.get("summary", "")) == expected
    assert str(event.get("description", "")) == printable(owner).replace("\t", " ")
    assert event.decoded("dtstamp") == datetime(2026, 11, 25, 9, tzinfo=UTC)

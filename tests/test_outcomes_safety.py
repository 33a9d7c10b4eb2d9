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
from facilitation.outcomes.safety import FORMULA_START, md_text, neutralise, printable

# Letters of several scripts, emoji, ASCII punctuation and spaces: what rooms type.
TYPED = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x20, max_codepoint=0x7E),
        st.sampled_from("æøåÆØÅéèçàüß—–…«»“”’"),
        st.sampled_from("مرحبا بالعالم"),
        st.sampled_from("🚢🔥🧭⚡👩🏽‍🚒"),
        st.sampled_from("\t\n"),
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
    assert read[0] == cell and not read[0].startswith(FORMULA_START)
    original = printable(text)
    assert read[0] == original or read[0] == "'" + original


def test_leading_tab_and_carriage_return_are_neutralised() -> None:
    for dangerous in ("\t=1+1", "\r=1+1", "=1+1", "+1", "-1", "@SUM(A1)"):
        assert neutralise(dangerous) == "'" + dangerous


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

"""The exports of an event of the size leadership gets (6 rooms, 161 actions, 46 roles,
5 joint actions, 90 votes), opened with the readers organisers' programs use.

Pure: the sample board (facilitation.outcomes.sample) is rendered directly. What
these tests cannot see (how LibreOffice lays out rows, how Chromium paginates) is
printed by benchmarks/render_outcomes.py for review, and counted in
test_outcomes_print.py.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from typing import Any

import icalendar
import openpyxl
import pytest
from markdown_it import MarkdownIt

from facilitation.outcomes import Options, Query, build, export, sample
from facilitation.outcomes.model import Outcomes

AT = datetime(2026, 11, 25, 18, tzinfo=UTC)
# The spreadsheet rules (OWASP, CSV injection): a cell starting with any of these is a
# formula, or becomes one. Written out here, not taken from the code under test.
FORMULA_STARTS = ["=", "+", "-", "@", "\t", "\r", "\n"]
UNICODE_BREAKS = ["\u2028", "\u2029", "\x85"]
# Our own English words that must not appear in a Norwegian export's headers.
ENGLISH = {"ref", "type", "room", "action", "owner", "due", "status", "goals", "votes",
           "merged into", "sources", "author", "created (UTC)", "updated (UTC)", "actor",
           "role", "responsibility", "Summary", "Actions", "Roles", "Rooms", "Goal alignment",
           "Proposed", "Agreed", "Done", "Owner", "Room", "Status", "Reference", "Goals",
           "Sources", "Joint action", "Action", "yes", "no", "Top actions by votes",
           "Joint actions", "Goal coverage", "Without an owner or a due date"}
# Words that are the same in the other language (not an English header left behind).
SAME = {"nb": {"ref", "type", "status", "id", "Status"},
        "fr": {"type", "action", "sources", "votes", "id", "Action", "Actions", "Sources"}}


def render(fmt: str | Query, language: str = "en", **changes: Any) -> bytes:
    board = sample.board(language)
    for key, fields in changes.items():
        board.entities[key] = {**board.entities[key], **fields}
    return export(board, fmt, AT).body


def model(language: str = "en") -> Outcomes:
    return build(sample.board(language), AT)


class Page(HTMLParser):
    """Elements with their classes and text, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, str]] = []
        self.found: list[tuple[str, str, str]] = []  # tag, class, path of classes

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        cls = dict(attrs).get("class") or ""
        self.stack.append((tag, cls))
        self.found.append((tag, cls, " ".join(c for _, c in self.stack)))

    def handle_endtag(self, tag: str) -> None:
        while self.stack and self.stack.pop()[0] != tag:
            pass


def section(page: str, name: str) -> str:
    start = page.index(f'<section class="{name}"')
    ends = [page.find(f'<section class="{n}"', start + 1) for n in ("appendix", "owners")]
    end = min([e for e in ends if e > 0] or [len(page)])
    return page[start:end]


# -- the printable report --------------------------------------------------------------------


def test_the_report_opens_with_the_leadership_summary() -> None:
    o = model()
    page = render("html").decode()
    summary = section(page, "summary")
    assert page.index('<section class="summary"') < page.index('<section class="appendix"')
    assert "<h1" in summary and "Security and preparedness in Vestland" in summary
    # Actions as the board lists them: 161 items, 12 of them merged into 5 joint actions.
    assert "Actions: 154" in summary and "Joint actions: 5" in summary and "Votes: 90" in summary
    # Top actions by votes, most first, each with a bar of its share of the most votes.
    top = summary.split('<table class="top">')[1].split("</table>")[0]
    refs = re.findall(r'<td class="ref">([^<]+)</td>', top)
    assert refs == [a.ref for a in o.top] and len(refs) == 10
    bars = [int(b) for b in re.findall(r'class="bar b(\d+)"', top)]
    assert bars[0] == 20 and bars == sorted(bars, reverse=True) and bars[-1] < 20
    # Every joint action with its own goals (codes) and its sources.
    joint = summary.split('<table class="joint">')[1].split("</table>")[0]
    for m in o.merges:
        assert f'<td class="ref">{m.ref}</td>' in joint
        row = joint.split(f'<td class="ref">{m.ref}</td>')[1].split("</tr>")[0]
        assert f'<td class="codes">{" ".join(g.code for g in m.goals)}</td>' in row
        assert " ".join(s.ref for s in m.sources) in row
    # Goal coverage: every goal x every room, with its code and text (the legend).
    coverage = summary.split('<table class="coverage">')[1].split("</table>")[0]
    for line in o.alignment:
        assert f'<th scope="row" class="code">{line.goal.code}</th>' in coverage
    assert coverage.count("<th scope=\"col\" class=\"n\">R") == 6
    # The roles matrix, conflicts flagged, and what is still without owner or due date.
    matrix = summary.split('<table class="matrix">')[1].split("</table>")[0]
    assert matrix.count("<tr") == len(o.actors) + 1
    assert matrix.count('class="conflict"') == sum(1 for a in o.actors if a.conflict) > 0
    assert summary.count("<li dir=\"auto\"><span class=\"flag\">") == len(o.conflicts) > 0
    gaps = summary.split('<table class="gaps">')[1].split("</table>")[0]
    assert re.findall(r'<td class="ref">([^<]+)</td>', gaps) == [a.ref for a in o.unassigned]
    assert len(o.unassigned) > 0


def test_the_appendix_has_every_action_with_goal_codes_and_fitted_role_columns() -> None:
    o = model()
    page = render("html").decode()
    appendix = section(page, "appendix")
    assert re.findall(r'<td class="ref">([^<]+)</td>', appendix) == [a.ref for a in o.actions]
    # Goals as codes with one legend, never the full texts on every row.
    legend = appendix.split('<p class="legend">')[1].split("</p>")[0]
    for goal in o.goals:
        assert f'<span class="code">{goal.code}</span> {goal.text}' in legend
        assert appendix.count(goal.text) == 1
    # Actor and role columns as wide as their content; the responsibility takes the rest.
    roles = re.findall(r'<tr><td class="([^"]+)" dir="auto">[^<]*</td><td class="([^"]+)"',
                       appendix)
    assert len(roles) == 46 and all("fit" in a and "fit" in b for a, b in roles)
    assert "table.roles" not in page or ".fit { width: 1%; white-space: nowrap; }" in page


def test_each_owner_has_their_list() -> None:
    o = model()
    page = render("html").decode()
    owners = section(page, "owners")
    assert owners.count('<section class="owner">') == len(o.owners) > 10
    lars = next(x for x in o.owners if x.owner == "Lars-Erik Hansen")
    block = owners.split(">Lars-Erik Hansen</h3>")[1].split("</section>")[0]
    assert re.findall(r'<td class="ref">([^<]+)</td>', block) == [a.ref for a in lars.actions]
    # A joint action is listed under each owner of its sources.
    assert any(a.ref.startswith("M") for x in o.owners for a in x.actions)


def test_the_report_policy_forbids_framing() -> None:
    from facilitation.outcomes.report import report_csp

    assert "frame-ancestors 'none'" in report_csp()
    assert "style=" not in render("html").decode()  # bars by class: the policy allows no inline style


# -- the spreadsheet -------------------------------------------------------------------------


def workbook(language: str = "en", **changes: Any) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(render("xlsx", language, **changes)))


def test_the_summary_sheet_comes_first_with_a_chart() -> None:
    o = model()
    raw = render("xlsx")
    book = openpyxl.load_workbook(io.BytesIO(raw))
    assert book.sheetnames == ["Summary", "Actions", "Roles", "Goal alignment", "Rooms"]
    values = [row for row in book["Summary"].iter_rows(values_only=True)]
    flat = [v for row in values for v in row if v is not None]
    refs = [row[0] for row in values]
    for a in o.top:
        assert a.ref in refs
    for m in o.merges:
        row = values[refs.index(m.ref)]
        assert row[1] == m.text and row[5] == "; ".join(g.text for g in m.goals)
        assert row[7] == ", ".join(s.ref for s in m.sources)
    for goal in o.goals:
        assert goal.text in flat
    names = zipfile.ZipFile(io.BytesIO(raw)).namelist()
    chart = next(n for n in names if n.startswith("xl/charts/chart"))
    xml = zipfile.ZipFile(io.BytesIO(raw)).read(chart).decode()
    assert "<barChart>" in xml and "$C$" in xml  # its data: the Summary's votes column
    drawing = zipfile.ZipFile(io.BytesIO(raw)).read("xl/worksheets/_rels/sheet1.xml.rels")
    assert b"drawing" in drawing  # placed on the first sheet


def test_every_cell_wraps_in_a_named_font_and_rows_fit_their_lines() -> None:
    book = workbook()
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.value is None:
                    continue
                assert cell.font.name == "Arial", (sheet.title, cell.coordinate)
                # Every table cell wraps; the Summary's title, counts line and headings
                # (the only cells alone on their rows) run on into the empty cells instead.
                alone = sheet.title == "Summary" and all(
                    c.value is None for c in row if c.column != cell.column)
                assert cell.alignment.wrap_text or alone, (sheet.title, cell.coordinate)
    actions = book["Actions"]
    header = [c.value for c in actions[1]]
    text_col = header.index("action")
    width = actions.column_dimensions["D"].width
    for row in actions.iter_rows(min_row=2):
        text = row[text_col].value
        assert isinstance(text, str)
        # At least one line per paragraph and per width of text, 12 points a line.
        lines = sum(max(1, -(-len(p) // int(width * 1.3))) for p in text.split("\n"))
        height = actions.row_dimensions[row[0].row].height
        if lines > 1:
            assert height is not None and height >= 12 * lines, (row[0].value, height, lines)
    longest = max(actions.iter_rows(min_row=2), key=lambda r: len(r[text_col].value or ""))
    assert len(longest[text_col].value) > 1400
    assert 250 < (actions.row_dimensions[longest[0].row].height or 0) <= 409


def test_columns_sized_by_content_frozen_filtered_and_printable() -> None:
    book = workbook()
    for name in ("Actions", "Roles", "Goal alignment", "Rooms"):
        sheet = book[name]
        assert sheet.freeze_panes == "A2", name
        assert sheet.auto_filter.ref == f"A1:{sheet.cell(1, sheet.max_column).column_letter}" \
            f"{sheet.max_row}", name
        assert sheet.print_title_rows == "$1:$1", name
        assert sheet.page_setup.orientation == "landscape" and sheet.page_setup.paperSize == 9
        assert sheet.sheet_properties.pageSetUpPr.fitToPage
        assert sheet.page_setup.fitToWidth == 1 and sheet.page_setup.fitToHeight == 0
        assert all(c.font.b for c in sheet[1])
    actions = book["Actions"]
    width = {c.value: actions.column_dimensions[c.column_letter].width for c in actions[1]}
    assert width["ref"] <= 8 and width["due"] <= 13 and width["votes"] <= 8
    assert width["action"] >= 60
    # The goal alignment's room names have room to wrap, not a cut-off header.
    alignment = book["Goal alignment"]
    assert alignment.row_dimensions[1].height and alignment.row_dimensions[1].height >= 25


def test_hostile_cells_are_quote_prefixed_strings_without_an_apostrophe() -> None:
    for start in FORMULA_STARTS:
        typed = f"{start}HYPERLINK(\"http://evil.example\",\"x\")"
        book = workbook(**{"item:i000": {"text": typed, "owner": f"{start}47 22 00 00 00"}})
        row = next(r for r in book["Actions"].iter_rows(min_row=2) if r[0].value == "R1.1")
        expected = "\n" + typed[1:] if start == "\r" else typed  # CR is a line break
        for cell, value in ((row[3], expected), (row[4], expected[:1] + "47 22 00 00 00")):
            assert cell.value == value, repr(start)
            assert cell.data_type == "s" and cell.quotePrefix, repr(start)
    for sheet in workbook().worksheets:
        for line in sheet.iter_rows(values_only=True):
            assert not any(isinstance(v, str) and v.startswith("'") for v in line)


def test_dates_are_real_dates_even_at_the_edges() -> None:
    book = workbook(**{"item:i000": {"due": "9999-12-31"}, "item:i001": {"due": "0001-01-01"}})
    rows = {r[0].value: r for r in book["Actions"].iter_rows(min_row=2)}
    assert rows["R3.1"][5].value == datetime(2027, 3, 3) and rows["R3.1"][5].is_date
    assert rows["R1.1"][5].value == datetime(9999, 12, 31) and rows["R1.1"][5].is_date
    # No spreadsheet date exists before 1900: the date as ISO text instead of a wrong one.
    assert rows["R2.1"][5].value == "0001-01-01"


# -- CSV ---------------------------------------------------------------------------------


def rows_of(body: bytes, separator: str = ",") -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline=""),
                               delimiter=separator))


def test_the_csv_filters_by_owner_and_takes_a_separator() -> None:
    o = model()
    body = render(Query("csv", Options(owner="  lars-erik   HANSEN ")))
    rows = rows_of(body)
    lars = next(x for x in o.owners if x.owner == "Lars-Erik Hansen")
    assert [r["ref"] for r in rows] == [a.ref for a in lars.actions]
    semicolons = render(Query("csv", Options(separator=";")))
    assert semicolons.decode("utf-8-sig").startswith("ref;type;room;action;")
    assert len(rows_of(semicolons, ";")) == 161 + 5
    assert export(sample.board(), Query("csv", Options(owner="Lars-Erik Hansen")), AT) \
        .filename.endswith("-outcomes-lars-erik-hansen-2026-11-25.csv")


@pytest.mark.parametrize("language", ["nb", "fr"])
def test_nordic_and_french_csv_use_semicolons_and_their_own_words(language: str) -> None:
    for fmt in ("csv", "roles.csv"):
        body = render(fmt, language)
        header = body.decode("utf-8-sig").split("\r\n")[0]
        assert ";" in header and "," not in header
        assert not set(header.split(";")) & ENGLISH - SAME[language], header
    rows = rows_of(render("csv", language), ";")
    statuses = {r[next(iter(r))] for r in rows}
    assert statuses  # read with ";" as the separator, the columns line up
    values = {v for r in rows for v in r.values()}
    assert not {"proposed", "agreed", "done", "Proposed", "Agreed", "Done"} & values
    # Asked for, the comma still comes.
    assert render(Query("csv", Options(separator=",")), language).decode("utf-8-sig") \
        .split("\r\n")[0].count(";") == 0


def test_a_norwegian_spreadsheet_and_calendar_have_no_english_header() -> None:
    book = workbook("nb")
    assert not set(book.sheetnames) & ENGLISH
    for name in book.sheetnames[1:]:
        header = {c.value for c in book[name][1]}
        assert not header & ENGLISH - SAME["nb"], (name, header & ENGLISH)
    summary = {v for row in book[book.sheetnames[0]].iter_rows(values_only=True) for v in row}
    assert not summary & ENGLISH - SAME["nb"]
    statuses = {c.value for c in book[book.sheetnames[1]]["G"][1:]}
    assert statuses == {"Foreslått", "Enige", "Gjennomført"}
    calendar = icalendar.Calendar.from_ical(render("ics", "nb"))
    text = "\n".join(str(e["description"]) for e in calendar.walk("VEVENT"))
    assert "Ansvarlig:" in text and "Owner:" not in text and "Status: Enige" in text
    assert "Reference:" not in text and "Room:" not in text


# -- Markdown --------------------------------------------------------------------------------


def test_markdown_escapes_only_where_markup_could_start() -> None:
    text = render("md").decode()
    for typed in ("Lars-Erik Hansen", "HV-09", "(totalforsvar)", "72 hours of self-preparedness",
                  "=SUM(A1:A9)", "+47 55 00 00 00 (duty officer)"):
        assert typed in text, typed
    # Our own markup aside, a handful of escapes at most (none of the sample needs one).
    assert text.count("\\") - text.count("\\\n") <= 5
    rendered = MarkdownIt("commonmark").enable("table").render(text)
    assert "Lars-Erik Hansen" in rendered and "HV-09" in rendered


def test_every_markdown_heading_is_one_line() -> None:
    # Stored before the API refused them: a title, a room name and a goal with line breaks.
    text = render("md", **{
        "event:sample-event": {
            **sample.board().entities["event:sample-event"],
            "title": "Security\nand # preparedness\u2028day",
            "rooms": [{"id": "r1", "name": "Ports\r\n## and grids", "prompt": "Who?\nWhen?"},
                      *sample.board().entities["event:sample-event"]["rooms"][1:]],
        }}).decode()
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    headings = [tokens[n + 1].content for n, t in enumerate(tokens) if t.type == "heading_open"]
    assert headings[0] == "Outcomes: Security and # preparedness day"
    assert "R1 Ports ## and grids" in headings
    for heading in headings:
        assert "\n" not in heading
    assert sum(1 for t in tokens if t.type == "heading_open" and t.tag == "h1") == 1


# -- iCalendar ---------------------------------------------------------------------------------


def entries(body: bytes) -> list[Any]:
    return list(icalendar.Calendar.from_ical(body).walk("VEVENT"))


def test_the_calendar_has_each_joint_action_once_and_not_its_sources() -> None:
    o = model()
    events = entries(render("ics"))
    uids = [str(e["uid"]) for e in events]
    assert len(uids) == len(set(uids))
    expected = [a.id for a in o.board_actions if a.due is not None]
    assert [u.removeprefix("sample-event-").removesuffix("@facilitation") for u in uids] \
        == expected
    sources = {s.id for m in o.merges for s in m.sources}
    assert not any(s in u for s in sources for u in uids)
    for m in o.merges:
        [entry] = [e for e in events if m.id in str(e["uid"])]
        assert str(entry["summary"]).startswith(m.text)
        assert ", ".join(s.ref for s in m.sources) in str(entry["description"])


def test_an_imported_copy_gets_its_own_uids() -> None:
    original = {str(e["uid"]) for e in entries(export(sample.board(), "ics", AT).body)}
    copy = {str(e["uid"]) for e in entries(export(sample.board(event_id="copy-1"), "ics", AT).body)}
    assert original and copy and not original & copy


def test_due_dates_at_the_ends_of_the_calendar() -> None:
    body = render("ics", **{"item:i003": {"due": "9999-12-31"}, "item:i004": {"due": "0001-01-01"}})
    starts = {str(e["uid"]).split("-", 2)[-1].split("@")[0]: e.decoded("dtstart")
              for e in entries(body)}
    assert starts["i003"] == date(9999, 12, 31) and starts["i004"] == date(1, 1, 1)
    assert b"DTSTART;VALUE=DATE:00010101" in body
    for fmt in ("csv", "xlsx", "md", "html", "json"):
        assert render(fmt, **{"item:i000": {"due": "9999-12-31"},
                              "item:i001": {"due": "0001-01-01"}})


# -- what every format shares ------------------------------------------------------------------


@pytest.mark.parametrize("brk", UNICODE_BREAKS)
def test_unicode_line_breaks_break_lines_in_every_export(brk: str) -> None:
    changes = {"item:i003": {"text": f"First line{brk}Second line"}}
    wanted = "First line\nSecond line"
    assert wanted in [r["action"] for r in rows_of(render("csv", **changes))]
    rows = workbook(**changes)["Actions"].iter_rows(min_row=2, values_only=True)
    assert next(r for r in rows if r[0] == "R4.1")[3] == wanted
    md = MarkdownIt("commonmark").render(render("md", **changes).decode())
    assert "First line<br />\nSecond line" in md
    [entry] = [e for e in entries(render("ics", **changes)) if "i003" in str(e["uid"])]
    assert str(entry["description"]).startswith(wanted)
    assert "First line\nSecond line" in render("html", **changes).decode()
    assert brk not in render("html", **changes).decode()


def test_exports_follow_the_joint_actions_own_goals() -> None:
    o = model()
    m1 = o.merges[0]
    source_goals = {g.code for s in m1.sources for g in s.goals}
    assert [g.code for g in m1.goals] == ["G1"] and source_goals - {"G1"}
    rows = rows_of(render("csv"))
    assert next(r for r in rows if r["ref"] == "M1")["goals"] == m1.goals[0].text
    page = render("html").decode()
    joint = page.split('<table class="joint">')[1].split("</tr>", 2)[1]
    assert '<td class="codes">G1</td>' in joint
    [entry] = [e for e in entries(render("ics")) if m1.id in str(e["uid"])]
    assert f"Goals: {m1.goals[0].text}" in str(entry["description"])

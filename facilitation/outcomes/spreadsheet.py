"""XLSX as a person would make it by hand: a Summary sheet first, then the data sheets.

- Summary: title and counts, the top actions by votes with a bar chart, every joint
  action with its goals and sources, and the goal coverage (goals x rooms).
- Actions, Roles, Goal alignment, Rooms: the CSV's rows (``tabular``), one header row
  that stays frozen, an autofilter, and real dates.
- Every cell has a named font (Arial, which LibreOffice maps to Liberation Sans) and
  wraps; rows are as tall as their longest cell's lines (estimated from the column
  width: spreadsheets keep the height that is written, they do not refit on opening).
- Columns are as wide as their content, up to a limit per column.
- Printing: A4 landscape, fitted to the page width, the header row on every page.
- A cell a spreadsheet would read as a formula (``safety.dangerous``) is stored as a
  string with the "quote prefix" style: it shows as typed, with no apostrophe.

Write-only mode streams rows: 10,000 actions stay cheap in time and memory.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable
from copy import copy
from datetime import date, datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from facilitation.outcomes import tabular
from facilitation.outcomes.model import Outcomes
from facilitation.outcomes.report import short
from facilitation.outcomes.safety import dangerous, printable
from facilitation.outcomes.tabular import Cell, Columns, Options
from facilitation.outcomes.words import Words

FONT = "Arial"
SIZE = 10
LINE_HEIGHT = 12.75  # points per line of 10 pt Arial (Excel's and LibreOffice's default row)
MAX_ROW_HEIGHT = 409  # the largest row height a sheet can have
# Characters of 10 pt Arial text per unit of column width (the unit is a "0" of the
# default font; average text is narrower): a little conservative, so no line is cut.
CHARS_PER_WIDTH = 1.3

BODY = Font(name=FONT, size=SIZE)
BOLD = Font(name=FONT, size=SIZE, bold=True)
TITLE = Font(name=FONT, size=14, bold=True)
HEADING = Font(name=FONT, size=12, bold=True)
META = Font(name=FONT, size=SIZE, color="4A5360")
WRAP = Alignment(wrap_text=True, vertical="top")
WRAP_RIGHT = Alignment(wrap_text=True, vertical="top", horizontal="right")  # over numbers
# Titles and headings run on into the empty cells beside them, never wrapped in column A.
NO_WRAP = Alignment(wrap_text=False, vertical="top")
HEADER_FILL = PatternFill("solid", fgColor="DDE3EA")


def _lines(text: str, width: float) -> int:
    per_line = max(1, int(width * CHARS_PER_WIDTH))
    return sum(max(1, math.ceil(len(part) / per_line)) for part in text.split("\n"))


def _widths(columns: Columns, rows: list[list[Cell]]) -> list[float]:
    """Each column as wide as its longest line (header included), up to its limit."""
    widths = []
    for n, (name, limit) in enumerate(columns):
        longest = max(len(w) for w in name.split())
        for row in rows:
            value = row[n]
            if isinstance(value, datetime):
                longest = max(longest, 16)
            elif isinstance(value, date):
                longest = max(longest, 10)
            elif value is not None:
                longest = max(longest, max(len(line) for line in str(value).split("\n")))
        widths.append(float(min(max(longest + 2, 6), max(limit, len(name) + 2))))
    return widths


class Sheet:
    """One worksheet, written row by row with every cell styled."""

    def __init__(self, book: Any, title: str, widths: list[float], landscape: bool = True) -> None:
        self.ws: WriteOnlyWorksheet = book.create_sheet(title[:31])
        self.widths = widths
        self.row = 0
        self.styles: dict[tuple[int, int, bool, str, bool], Any] = {}
        for n, width in enumerate(widths, start=1):
            self.ws.column_dimensions[get_column_letter(n)].width = width
        setup = self.ws.page_setup
        setup.orientation = "landscape" if landscape else "portrait"
        setup.paperSize = "9"  # A4
        setup.fitToWidth = 1
        setup.fitToHeight = 0  # as many pages down as it takes
        self.ws.sheet_properties.pageSetUpPr.fitToPage = True
        self.ws.print_options.gridLines = True

    def cell(self, value: Cell, font: Font = BODY, fill: PatternFill | None = None,
             right: bool = False) -> WriteOnlyCell:
        quote, number_format = False, "General"
        if isinstance(value, str):
            text = ILLEGAL_CHARACTERS_RE.sub("", printable(value))
            # A string, said twice: the cell type, and the style a person gets by typing
            # an apostrophe first (which then does not show).
            quote = dangerous(text)
            value = text
        elif isinstance(value, datetime | date) and not 1900 <= value.year <= 9999:
            value = value.isoformat()  # no serial date exists for it
        elif isinstance(value, datetime):
            number_format = "yyyy-mm-dd hh:mm"
        elif isinstance(value, date):
            number_format = "yyyy-mm-dd"
        cell = WriteOnlyCell(self.ws, value=value)
        if quote:
            cell.data_type = "s"
        # Setting a style looks it up by hash in the workbook's lists, which costs more
        # than writing the cell: each distinct style is made once, then copied.
        key = (id(font), id(fill), quote, number_format, right)
        style = self.styles.get(key)
        if style is None:
            cell.font = font
            cell.alignment = (WRAP_RIGHT if right else WRAP) if font in (BODY, BOLD) else NO_WRAP
            cell.number_format = number_format
            if quote:
                cell.quotePrefix = True
            if fill is not None:
                cell.fill = fill
            self.styles[key] = copy(cell._style)
        else:
            cell._style = copy(style)
        return cell

    def append(self, values: list[Cell], font: Font = BODY, fill: PatternFill | None = None,
               height: float | None = None, right: frozenset[int] = frozenset()) -> int:
        self.row += 1
        lines = max((_lines(printable(v), w) for v, w in zip(values, self.widths, strict=False)
                     if isinstance(v, str)), default=1)
        if height is None and lines > 1:
            height = min(MAX_ROW_HEIGHT, lines * LINE_HEIGHT + 3)
        if height is not None:
            self.ws.row_dimensions[self.row].height = height
        self.ws.append([self.cell(v, font, fill, n in right) for n, v in enumerate(values)])
        return self.row

    def header(self, names: list[str], right: frozenset[int] = frozenset()) -> int:
        """A header row; ``right``: the columns of numbers, their headers aligned with them."""
        return self.append(list(names), BOLD, HEADER_FILL, right=right)


def _table(book: Any, title: str, columns: Columns, rows: Iterable[list[Cell]],
           printed: int | None = None) -> None:
    """A data sheet: frozen, filtered header row repeated on every printed page.

    ``printed``: how many columns (from the left) the printout has, if not all of them.
    """
    data = list(rows)
    sheet = Sheet(book, title, _widths(columns, data))
    ws = sheet.ws
    ws.freeze_panes = "A2"
    ws.print_title_rows = "1:1"
    if printed is not None:
        ws.print_area = f"A1:{get_column_letter(printed)}{len(data) + 1}"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{len(data) + 1}"
    # Numbers and dates stand on the right: so do their headers.
    numbers = frozenset(n for n in range(len(columns))
                        if data and all(isinstance(r[n], int | date) for r in data if r[n] is not None))
    sheet.header([name for name, _ in columns], numbers)
    for row in data:
        sheet.append(row)


def _summary(book: Any, o: Outcomes, _: Words) -> None:
    columns: Columns = [
        (_.pgettext("column", "ref"), 7),
        (_.pgettext("column", "action"), 60),
        (_.pgettext("column", "votes"), 7),
        (_.pgettext("column", "owner"), 24),
        (_.pgettext("column", "due"), 12),
        (_.pgettext("column", "goals"), 30),
        (_.pgettext("column", "room"), 26),
        (_.pgettext("column", "sources"), 12),
    ]
    # The top actions quoted on one line (the Actions sheet has every word, by ref).
    top = [[a.ref, short(a.text, 200), a.votes, a.owner, a.due, tabular.goal_texts(a.goals),
            "; ".join(r.name for r in a.rooms), ""] for a in o.top]
    joint = [[m.ref, m.text, m.votes, m.owner, m.due, tabular.goal_texts(m.goals),
              "; ".join(r.name for r in m.rooms), ", ".join(s.ref for s in m.sources)]
             for m in o.merges]
    widths = _widths(columns, top + joint)
    widths[1] = 60.0
    sheet = Sheet(book, _("Summary"), widths)
    sheet.ws.print_options.gridLines = False
    sheet.append([_("Outcomes: %(title)s", title=o.title)], TITLE, height=22)
    sheet.append([_.headline(o)], META, height=LINE_HEIGHT + 3)
    sheet.append([])
    sheet.append([_("Top actions by votes")], HEADING, height=18)
    sheet.header([name for name, _ in columns], frozenset({2, 4}))  # votes, due
    first = sheet.row + 1
    for row in top:
        sheet.append(row)
    if not top:
        sheet.append([_("No votes were given.")])
    last = sheet.row
    chart_at = None
    if top:
        chart = BarChart()
        chart.type = "bar"  # horizontal bars, like the printed report
        chart.title = _("Votes")
        chart.legend = None
        chart.y_axis.majorGridlines = None
        chart.x_axis.scaling.orientation = "maxMin"  # the most voted at the top
        chart.add_data(Reference(sheet.ws, min_col=3, min_row=first, max_row=last))
        chart.set_categories(Reference(sheet.ws, min_col=1, min_row=first, max_row=last))
        chart.height, chart.width = 7.5, 16
        chart_at = chart
    sheet.append([])
    sheet.append([_("Joint actions")], HEADING, height=18)
    sheet.header([name for name, _ in columns], frozenset({2, 4}))  # votes, due
    for row in joint:
        sheet.append(row)
    if not joint:
        sheet.append([_("No actions were merged across rooms.")])
    sheet.append([])
    sheet.append([_("Goal coverage")], HEADING, height=18)
    if o.alignment:
        # Goal text in the wide column, rooms in the next ones (their names wrap).
        # Rooms as their codes (the columns here are the tables' above), named below.
        sheet.header(["", _("Goal"), *(f"R{r.room.number}" for r in o.rooms), _("Total")],
                     frozenset(range(2, len(o.rooms) + 3)))
        for line in o.alignment:
            total: Cell = line.total if line.addressed else _("not addressed")
            sheet.append([line.goal.code, line.goal.text, *line.per_room, total])
        sheet.append(["", _("no goal"), *o.untagged, sum(o.untagged)])
        sheet.append([])
        for r in o.rooms:
            sheet.append([f"R{r.room.number}", r.room.name])
    else:
        sheet.append([_("The event has no plan goals.")])
    if chart_at is not None:
        # Below the tables, in the printed width: fit to width keeps its size readable.
        sheet.append([])
        sheet.ws.add_chart(chart_at, f"B{sheet.row + 1}")


def xlsx(o: Outcomes, options: Options | None = None) -> bytes:
    _ = Words(o.language)
    book = Workbook(write_only=True)
    _summary(book, o, _)
    actions, roles = tabular.action_columns(_), tabular.role_columns(_)
    _table(book, _("Actions"), actions, tabular.action_rows(o, _),
           len(actions) - tabular.BOOKKEEPING)
    _table(book, _("Roles"), roles, tabular.role_rows(o), len(roles) - tabular.BOOKKEEPING)
    _table(book, _("Goal alignment"), tabular.alignment_columns(o, _),
           tabular.alignment_rows(o, _))
    _table(book, _("Rooms"), tabular.room_columns(_), tabular.room_rows(o, _))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()

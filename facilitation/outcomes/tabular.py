"""CSV and XLSX: the same rows, one column per field, names instead of ids.

The rows are defined once here (``action_rows``, ``role_rows`` ...) and written
by both writers, so the spreadsheet and the CSV always have the same columns.
Every text cell goes through ``neutralise``: nothing typed in a room can become
a formula.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from facilitation.outcomes.model import Action, Merged, Outcomes, Role
from facilitation.outcomes.safety import neutralise, printable

Cell = str | int | date | datetime | None

ACTION_COLUMNS = (
    ("ref", 8), ("type", 9), ("room", 24), ("action", 60), ("owner", 22), ("due", 12),
    ("status", 10), ("goals", 30), ("votes", 7), ("merged into", 12), ("sources", 18),
    ("author", 22), ("created (UTC)", 19), ("updated (UTC)", 19), ("id", 38),
)
ROLE_COLUMNS = (
    ("room", 24), ("actor", 28), ("role", 28), ("responsibility", 60), ("author", 22),
    ("created (UTC)", 19), ("updated (UTC)", 19), ("id", 38),
)
ROOM_COLUMNS = (
    ("room", 24), ("guiding question", 60), ("actions", 9), ("proposed", 10), ("agreed", 9),
    ("done", 7), ("merged", 9), ("votes", 7), ("roles", 7), ("locked", 8),
)


def _naive(moment: datetime) -> datetime:
    # Spreadsheets have no time zones: UTC, said in the column header.
    return moment.replace(tzinfo=None)


def _goals(goals: Any) -> str:
    return "; ".join(g.text for g in goals)


def action_row(a: Action) -> list[Cell]:
    return [a.ref, "action", a.room.name, a.text, a.owner, a.due, a.status, _goals(a.goals),
            a.votes, a.merged_into, "", a.author, _naive(a.created_at), _naive(a.updated_at), a.id]


def merged_row(m: Merged) -> list[Cell]:
    return [m.ref, "merged", "; ".join(r.name for r in m.rooms), m.text, m.owner, m.due, m.status,
            _goals(m.goals), m.votes, "", "; ".join(a.ref for a in m.sources), m.author,
            _naive(m.created_at), _naive(m.updated_at), m.id]


def action_rows(o: Outcomes) -> Iterator[list[Cell]]:
    """Every live action once, room by room, then each merged action once with its sources."""
    for room in o.rooms:
        for action in room.actions:
            yield action_row(action)
    for merged in o.merges:
        yield merged_row(merged)


def role_row(r: Role) -> list[Cell]:
    return [r.room.name, r.actor, r.role, r.responsibility, r.author, _naive(r.created_at),
            _naive(r.updated_at), r.id]


def role_rows(o: Outcomes) -> Iterator[list[Cell]]:
    for role in o.roles:
        yield role_row(role)


def room_rows(o: Outcomes) -> Iterator[list[Cell]]:
    for r in o.rooms:
        c = r.counts
        yield [r.room.name, r.room.prompt, c.actions, c.proposed, c.agreed, c.done, c.merged,
               c.votes, c.roles, "yes" if r.room.locked else "no"]


def alignment_columns(o: Outcomes) -> tuple[tuple[str, int], ...]:
    return (("goal", 40), *((r.room.name, 14) for r in o.rooms), ("total", 8), ("addressed", 16))


def alignment_rows(o: Outcomes) -> Iterator[list[Cell]]:
    for line in o.alignment:
        yield [line.goal.text, *line.per_room, line.total,
               "yes" if line.addressed else "NOT ADDRESSED"]
    yield ["(no goal)", *o.untagged, sum(o.untagged), ""]


# -- CSV ---------------------------------------------------------------------------------


def _csv_cell(value: Cell) -> str | int:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int):
        return value
    return neutralise(printable(value))


def _csv(columns: tuple[tuple[str, int], ...], rows: Iterator[list[Cell]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)  # RFC 4180: CRLF rows, fields quoted when needed
    writer.writerow([neutralise(printable(name)) for name, _ in columns])
    writer.writerows([_csv_cell(v) for v in row] for row in rows)
    # UTF-8 with a byte order mark: Excel then reads ø, é, Arabic and emoji right.
    return out.getvalue().encode("utf-8-sig")


def actions_csv(o: Outcomes) -> bytes:
    return _csv(ACTION_COLUMNS, action_rows(o))


def roles_csv(o: Outcomes) -> bytes:
    return _csv(ROLE_COLUMNS, role_rows(o))


# -- XLSX --------------------------------------------------------------------------------


def xlsx(o: Outcomes) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.cell.cell import Cell as SheetCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    # Write-only mode streams rows: 10,000 actions stay cheap in time and memory.
    book = Workbook(write_only=True)
    bold = Font(bold=True)

    def sheet(title: str, columns: tuple[tuple[str, int], ...], rows: list[list[Cell]]) -> None:
        ws = book.create_sheet(title)
        for n, (_, width) in enumerate(columns, start=1):
            ws.column_dimensions[get_column_letter(n)].width = width
        ws.freeze_panes = "A2"
        ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{len(rows) + 1}"
        header = []
        for name, _ in columns:
            cell = value(ws, name)  # room names head the alignment sheet: user text
            cell = cell if isinstance(cell, SheetCell) else WriteOnlyCell(ws, value=cell)
            cell.font = bold
            header.append(cell)
        ws.append(header)
        for row in rows:
            ws.append([value(ws, v) for v in row])

    def value(ws: Any, v: Cell) -> Any:
        if isinstance(v, datetime):
            cell = WriteOnlyCell(ws, value=v)
            cell.number_format = "yyyy-mm-dd hh:mm"
            return cell
        if isinstance(v, date):
            cell = WriteOnlyCell(ws, value=v)
            cell.number_format = "yyyy-mm-dd"
            return cell
        if not isinstance(v, str):
            return v
        text = neutralise(ILLEGAL_CHARACTERS_RE.sub("", printable(v)))
        if text.startswith(("'", "=")):
            # Say it is a string: openpyxl would otherwise take a leading "=" as a formula.
            cell = WriteOnlyCell(ws, value=text)
            cell.data_type = "s"
            return cell
        return text

    sheet("Actions", ACTION_COLUMNS, list(action_rows(o)))
    sheet("Roles", ROLE_COLUMNS, list(role_rows(o)))
    sheet("Goal alignment", alignment_columns(o), list(alignment_rows(o)))
    sheet("Rooms", ROOM_COLUMNS, list(room_rows(o)))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()

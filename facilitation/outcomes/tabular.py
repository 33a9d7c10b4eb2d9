"""CSV: the same rows as the spreadsheet, one column per field, names instead of ids.

The columns and rows are defined once here (``action_columns``/``action_rows`` ...)
and written by both writers (this CSV and ``spreadsheet.xlsx``), so they always
agree. Headers, status values and yes/no are in the event's language (``Words``);
the separator is the language's (``;`` for nb and fr) unless the request names one.
Every text cell goes through ``neutralise``: nothing typed in a room can become a
formula.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime

from facilitation.outcomes.model import Action, Goal, Merged, Outcomes, Role
from facilitation.outcomes.safety import neutralise, printable
from facilitation.outcomes.words import Words

Cell = str | int | date | datetime | None
Columns = list[tuple[str, int]]  # header, width in characters (the spreadsheet's)
# The last columns of the action and role rows (created, updated, id) are for tools:
# the spreadsheet prints the columns before them.
BOOKKEEPING = 3


@dataclass(frozen=True)
class Options:
    """What a download may ask for besides its format (query parameters of the API)."""

    owner: str | None = None  # only this owner's actions (outcomes.csv)
    separator: str | None = None  # "," or ";"; None: the language's


def action_columns(_: Words) -> Columns:
    return [
        (_.pgettext("column", "ref"), 7),
        (_.pgettext("column", "type"), 11),
        (_.pgettext("column", "room"), 18),
        (_.pgettext("column", "action"), 60),
        (_.pgettext("column", "owner"), 20),
        (_.pgettext("column", "due"), 12),
        (_.pgettext("column", "status"), 14),
        (_.pgettext("column", "follow-up"), 12),
        (_.pgettext("column", "progress %"), 9),
        (_.pgettext("column", "new due"), 12),
        (_.pgettext("column", "follow-up note"), 40),
        (_.pgettext("column", "reported (UTC)"), 17),
        (_.pgettext("column", "goals"), 26),
        (_.pgettext("column", "votes"), 7),
        (_.pgettext("column", "merged into"), 9),
        (_.pgettext("column", "sources"), 12),
        (_.pgettext("column", "author"), 16),
        (_.pgettext("column", "created (UTC)"), 17),
        (_.pgettext("column", "updated (UTC)"), 17),
        (_.pgettext("column", "id"), 38),
    ]


def role_columns(_: Words) -> Columns:
    return [
        (_.pgettext("column", "room"), 24),
        (_.pgettext("column", "actor"), 26),
        (_.pgettext("column", "role"), 22),
        (_.pgettext("column", "responsibility"), 60),
        (_.pgettext("column", "author"), 18),
        (_.pgettext("column", "created (UTC)"), 17),
        (_.pgettext("column", "updated (UTC)"), 17),
        (_.pgettext("column", "id"), 38),
    ]


def room_columns(_: Words) -> Columns:
    return [
        (_.pgettext("column", "room"), 30),
        (_.pgettext("column", "guiding question"), 60),
        (_.pgettext("column", "actions"), 9),
        (_.pgettext("column", "proposed"), 10),
        (_.pgettext("column", "agreed"), 9),
        (_.pgettext("column", "done"), 9),
        (_.pgettext("column", "merged"), 9),
        (_.pgettext("column", "votes"), 7),
        (_.pgettext("column", "roles"), 7),
        (_.pgettext("column", "locked"), 8),
    ]


def goal_texts(goals: Iterable[Goal]) -> str:
    return "; ".join(g.text for g in goals)


def _naive(moment: datetime) -> datetime:
    # Spreadsheets have no time zones: UTC, said in the column header.
    return moment.replace(tzinfo=None)


def follow_up_cells(a: Action | Merged, _: Words) -> list[Cell]:
    """Follow-up status, progress, a moved due date, the note and the last report's time."""
    f = a.follow_up
    return [f.label(_), f.percent, f.due, f.note, _naive(f.updated_at) if f.updated_at else None]


def action_row(a: Action, _: Words) -> list[Cell]:
    return [a.ref, _("Action"), a.room.name, a.text, a.owner, a.due, _.status(a.status),
            *follow_up_cells(a, _), goal_texts(a.goals), a.votes, a.merged_into, "", a.author,
            _naive(a.created_at), _naive(a.updated_at), a.id]


def merged_row(m: Merged, _: Words) -> list[Cell]:
    return [m.ref, _("Joint action"), "; ".join(r.name for r in m.rooms), m.text, m.owner, m.due,
            _.status(m.status), *follow_up_cells(m, _), goal_texts(m.goals), m.votes, "",
            "; ".join(a.ref for a in m.sources), m.author, _naive(m.created_at),
            _naive(m.updated_at), m.id]


def row_of(a: Action | Merged, _: Words) -> list[Cell]:
    return action_row(a, _) if isinstance(a, Action) else merged_row(a, _)


def action_rows(o: Outcomes, _: Words, owner: str | None = None) -> Iterator[list[Cell]]:
    """Every live action once, room by room, then each joint action once with its sources.

    With ``owner``: that owner's actions only, as the report's per-owner section lists them.
    """
    if owner is not None:
        yield from (row_of(a, _) for a in o.owned_by(owner))
        return
    for room in o.rooms:
        for action in room.actions:
            yield action_row(action, _)
    for merged in o.merges:
        yield merged_row(merged, _)


def role_row(r: Role) -> list[Cell]:
    return [r.room.name, r.actor, r.role, r.responsibility, r.author, _naive(r.created_at),
            _naive(r.updated_at), r.id]


def role_rows(o: Outcomes) -> Iterator[list[Cell]]:
    for role in o.roles:
        yield role_row(role)


def room_rows(o: Outcomes, _: Words) -> Iterator[list[Cell]]:
    for r in o.rooms:
        c = r.counts
        yield [r.room.name, r.room.prompt, c.actions, c.proposed, c.agreed, c.done, c.merged,
               c.votes, c.roles, _.yes_no(r.room.locked)]


def alignment_columns(o: Outcomes, _: Words) -> Columns:
    return [(_.pgettext("column", "goal"), 44), *((r.room.name, 16) for r in o.rooms),
            (_.pgettext("column", "total"), 7),
            (_.pgettext("column", "addressed"), 14),
        ]


def alignment_rows(o: Outcomes, _: Words) -> Iterator[list[Cell]]:
    for line in o.alignment:
        yield [line.goal.text, *line.per_room, line.total,
               _.yes_no(True) if line.addressed else _("not addressed")]
    yield [_("no goal"), *o.untagged, sum(o.untagged), ""]


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


def _csv(columns: Columns, rows: Iterable[list[Cell]], separator: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=separator)  # RFC 4180: CRLF rows, quoted when needed
    writer.writerow([neutralise(printable(name)) for name, _ in columns])
    writer.writerows([_csv_cell(v) for v in row] for row in rows)
    # UTF-8 with a byte order mark: Excel then reads ø, é, Arabic and emoji right.
    return out.getvalue().encode("utf-8-sig")


def actions_csv(o: Outcomes, options: Options | None = None) -> bytes:
    options = options or Options()
    _ = Words(o.language)
    return _csv(action_columns(_), action_rows(o, _, options.owner),
                options.separator or _.separator)


def roles_csv(o: Outcomes, options: Options | None = None) -> bytes:
    options = options or Options()
    _ = Words(o.language)
    return _csv(role_columns(_), role_rows(o), options.separator or _.separator)

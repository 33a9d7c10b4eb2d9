"""iCalendar: one all-day entry per action with a due date, carrying its owner.

A joint action is one entry with the moderator's wording (its sources are not
repeated); every other action is one entry. Labels are in the event's language.
UIDs are ``<event id>-<action id>@facilitation``: an imported copy of an event has
a new event id, so its entries never replace the original's in a calendar.

Written by hand (RFC 5545 is small for this much: escape, fold at 75 octets)
because it is ten times faster than building component objects for a large
event; tests read it back with the ``icalendar`` parser.
"""

from __future__ import annotations

from datetime import date

from facilitation.outcomes.model import Action, Merged, Outcomes
from facilitation.outcomes.safety import one_line, printable
from facilitation.outcomes.tabular import Options
from facilitation.outcomes.words import Words

STATUS = {"proposed": "TENTATIVE", "agreed": "CONFIRMED", "done": "CONFIRMED"}


def escape(value: str) -> str:
    """A TEXT value (RFC 5545 3.3.11): backslash, semicolon, comma and newlines escaped."""
    text = printable(value).replace("\t", " ")
    return (text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\n", "\\n"))


def fold(line: str) -> str:
    """Lines longer than 75 octets continue on the next line after a space (3.1)."""
    raw = line.encode("utf-8")
    if len(raw) <= 75:
        return line + "\r\n"
    parts, start, limit = [], 0, 75
    while start < len(raw):
        end = min(start + limit, len(raw))
        while end < len(raw) and (raw[end] & 0xC0) == 0x80:  # never split a character
            end -= 1
        parts.append(raw[start:end].decode("utf-8"))
        start, limit = end, 74  # continuation lines start with the space
    return "\r\n ".join(parts) + "\r\n"


def ical_date(day: date) -> str:
    """YYYYMMDD with four digits for any year (strftime drops the zeros of year 1)."""
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


def _summary(a: Action | Merged) -> str:
    first = next((line.strip() for line in printable(a.text).split("\n") if line.strip()), "")
    if len(first) > 120:
        first = first[:119] + "…"
    return f"{first} ({one_line(a.owner)})" if a.owner.strip() else first


def due_of(a: Action | Merged) -> date | None:
    """The date in the calendar: a new one the owner reported after the event, else the plan's."""
    return a.follow_up.due or a.due


def _event(o: Outcomes, a: Action | Merged, stamp: str, _: Words) -> list[str]:
    due = due_of(a)
    assert due is not None
    rooms = "; ".join(r.name for r in a.rooms)
    # Plain calls, never _() inside an f-string: the extractor cannot see it there.
    owner, room, status, reference, goals, sources = (
        _("Owner"), _("Room"), _("Status"), _("Reference"), _("Goals"), _("Sources"))
    description = [a.text, "", f"{owner}: {a.owner or '—'}", f"{room}: {rooms}",
                   f"{status}: {_.status(a.status)}", f"{reference}: {a.ref}"]
    if a.goals:
        description.append(f"{goals}: " + "; ".join(g.text for g in a.goals))
    if isinstance(a, Merged) and a.sources:
        description.append(f"{sources}: " + ", ".join(s.ref for s in a.sources))
    if o.followed_up:
        f, follow, note = a.follow_up, _("Follow-up"), _("Note")
        description.append(f"{follow}: {f.label(_)}, {f.percent} %")
        if f.note:
            description.append(f"{note}: {f.note}")
    # DTSTART alone is a one-day entry (RFC 5545 3.6.1): no DTEND, so no "day after"
    # to compute, which does not exist for 9999-12-31.
    return [
        "BEGIN:VEVENT",
        f"UID:{o.event_id}-{a.id}@facilitation",
        f"DTSTAMP:{stamp}",
        f"DTSTART;VALUE=DATE:{ical_date(due)}",
        f"SUMMARY:{escape(_summary(a))}",
        f"DESCRIPTION:{escape(chr(10).join(description))}",
        f"CATEGORIES:{escape(one_line(rooms))}",
        f"STATUS:{'CANCELLED' if a.follow_up.status == 'dropped' else STATUS.get(a.status, 'TENTATIVE')}",
        "TRANSP:TRANSPARENT",
        "END:VEVENT",
    ]


def ics(o: Outcomes, options: Options | None = None) -> bytes:
    """Every action with a due date; with ``options.owner``, that owner's only (the
    calendar file each owner gets from their follow-up page)."""
    _ = Words(o.language)
    owner = options.owner if options is not None else None
    stamp = o.exported_at.strftime("%Y%m%dT%H%M%SZ")
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//facilitation//outcomes//EN",
             "CALSCALE:GREGORIAN", "METHOD:PUBLISH",
             f"X-WR-CALNAME:{escape(one_line(_('Outcomes: %(title)s', title=o.title)))}"]
    for action in o.board_actions if owner is None else o.owned_by(owner):
        if due_of(action) is not None:
            lines += _event(o, action, stamp, _)
    lines.append("END:VCALENDAR")
    return "".join(fold(line) for line in lines).encode("utf-8")

"""What a change may be made of: the API's request bodies, as pydantic models.

Strict types and ``extra="forbid"``: a wrong type or an unknown field is a 422
that names the field, and nothing is stored. The web layer validates every body
against these (``web/bodies.py``, which answers 400 and 422); the command line,
moderation and the import take them as already valid input. The same models give
the OpenAPI document its schemas.
"""

from __future__ import annotations

import re
import uuid
from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

TEXT_MAX = 2000
NAME_MAX = 200
# Versions count edits; bounded so that a huge number is a 422, not an overflow deeper in.
VERSION_MAX = 2**53 - 1
# Due dates an action may have: every export (an all-day calendar entry ends the next
# day, spreadsheets count days from 1900) and every page can show them.
DUE_MIN = date(2000, 1, 1)
DUE_MAX = date(2100, 12, 31)

# Control characters nobody types and no export can carry (XML, iCalendar): C0 but tab
# and the line breaks, DEL, C1 but NEL. Refused (422), never stored to be dropped later.
CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f]")


def _printable(value: str) -> str:
    found = CONTROL.search(value)
    if found:
        raise ValueError(f"must not contain the control character U+{ord(found.group()):04X}")
    return value


Typed = AfterValidator(_printable)
# Text a person typed: surrounding whitespace dropped, length bounded, no control characters.
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX),
                 Typed]
OptionalName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=NAME_MAX), Typed]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TEXT_MAX),
                 Typed]
OptionalText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=TEXT_MAX), Typed]
# Line breaks of every kind: CR, LF, NEL, LINE SEPARATOR, PARAGRAPH SEPARATOR, and the
# vertical tab and form feed that some editors paste.
LINE_BREAKS = frozenset("\r\n\x0b\x0c\x85\u2028\u2029")


def _one_line(value: str) -> str:
    if any(c in LINE_BREAKS for c in value):
        raise ValueError("must be one line (no line breaks)")
    return value


# Titles, room names, guiding questions and goal texts head pages, reports and
# calendars: one line each, refused (422) rather than silently joined.
LineName = Annotated[Name, AfterValidator(_one_line)]
OptionalLine = Annotated[OptionalText, AfterValidator(_one_line)]
Status = Literal["proposed", "agreed", "done"]
Due = Annotated[date, Field(ge=DUE_MIN, le=DUE_MAX)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class RoomIn(Strict):
    name: LineName
    prompt: OptionalLine = ""


class EventIn(Strict):
    title: LineName
    rooms: list[RoomIn] = Field(min_length=1, max_length=100)
    goals: list[LineName] = Field(default_factory=list, max_length=100)
    language: Literal["en", "nb", "fr"] = "en"


class ItemIn(Strict):
    id: uuid.UUID
    text: Text
    owner: OptionalName = ""
    due: Due | None = None
    goals: list[str] = Field(default_factory=list, max_length=100)
    status: Status = "proposed"
    author: OptionalName = ""


class ItemPatch(Strict):
    version: int = Field(ge=1, le=VERSION_MAX)
    text: Text | None = None
    owner: OptionalName | None = None
    due: Due | None = None
    goals: list[str] | None = Field(default=None, max_length=100)
    status: Status | None = None


class RoleIn(Strict):
    id: uuid.UUID
    actor: Name
    role: Name
    responsibility: OptionalText = ""
    author: OptionalName = ""


class RolePatch(Strict):
    version: int = Field(ge=1, le=VERSION_MAX)
    actor: Name | None = None
    role: Name | None = None
    responsibility: OptionalText | None = None


# -- moderation (Part 3) -------------------------------------------------------------------


class RoomEdit(Strict):
    id: str | None = None  # None: a new room
    name: LineName
    prompt: OptionalLine = ""


class GoalEdit(Strict):
    id: str | None = None  # None: a new goal
    text: LineName


class EventPatch(Strict):
    title: LineName | None = None
    rooms: list[RoomEdit] | None = Field(default=None, min_length=1, max_length=100)
    goals: list[GoalEdit] | None = Field(default=None, max_length=100)


class MergeIn(Strict):
    id: uuid.UUID
    items: list[str] = Field(min_length=2, max_length=50)
    text: OptionalText | None = None


class MergePatch(Strict):
    version: int = Field(ge=1, le=VERSION_MAX)
    text: Text | None = None
    goals: list[str] | None = Field(default=None, max_length=100)
    status: Status | None = None


class ModeratedItemPatch(Strict):
    """What the moderator may set on a room's item in plenary, lock or not."""

    goals: list[str] | None = Field(default=None, max_length=100)
    status: Status | None = None


PlenaryView = Literal["rooms", "spotlight", "goals", "roles", "priorities", "join", "followup"]


class PlenaryPatch(Strict):
    view: PlenaryView | None = None
    spotlight: str | None = None
    sort: Literal["time", "votes"] | None = None
    voting: bool | None = None
    votes_per_person: int | None = Field(default=None, ge=1, le=20)
    theme: Literal["light", "dark"] | None = None


class TimerIn(Strict):
    seconds: int = Field(ge=1, le=24 * 3600)
    label: OptionalName = ""


class MessageIn(Strict):
    text: OptionalName


class VoteIn(Strict):
    item: str = Field(min_length=1, max_length=64)
    voter: OptionalName = ""  # the organiser names the person (a proxy vote); pages use the session


# -- follow-up after the event -------------------------------------------------------------

ProgressStatus = Literal["not_started", "in_progress", "done", "dropped"]


class FollowUpIn(Strict):
    """Open follow-up; each list in ``same`` joins spellings that mean one owner."""

    same: list[Annotated[list[Name], Field(min_length=1, max_length=50)]] = Field(
        default_factory=list, max_length=200)


class ProgressPatch(Strict):
    """An owner's report on one action: version 0 is "never reported yet"."""

    version: int = Field(ge=0, le=VERSION_MAX)
    status: ProgressStatus | None = None
    progress: int | None = Field(default=None, ge=0, le=100)
    note: OptionalText | None = None
    due: Due | None = None

"""Follow-up in the outcomes: each action's current report, and the history of reports.

An action's progress entity (``domain.PROGRESS``, id = the action's id) carries the
owner's last report and its own history; this turns it into what the exports show.
An action nobody reported on is "not started", 0 %.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from facilitation.domain import OWNER, PROGRESS, Board, Entity, public
from facilitation.i18n import N_

STATUSES = ("not_started", "in_progress", "done", "dropped")
LABEL = {"not_started": N_("Not started"), "in_progress": N_("In progress"),
         "done": N_("Done"), "dropped": N_("Dropped")}


@dataclass(frozen=True)
class FollowUp:
    status: str = "not_started"
    progress: int = 0  # as reported, 0-100
    note: str = ""
    due: date | None = None  # a new due date, if it moved
    updated_at: datetime | None = None  # None: never reported
    version: int = 0
    history: tuple[dict[str, Any], ...] = field(default=())

    @property
    def reported(self) -> bool:
        return self.updated_at is not None

    def label(self, words: Any) -> str:
        """The status in the export's language (``words``: an ``outcomes.words.Words``)."""
        return str(words(LABEL[self.status]))

    @property
    def percent(self) -> int:
        """As counted in summaries: a done action is 100 % whatever was typed."""
        return 100 if self.status == "done" else self.progress


NOT_REPORTED = FollowUp()


def follow_up(board: Board, action_id: str) -> FollowUp:
    from facilitation.outcomes.model import parse_due, parse_time

    found = board.entities.get(f"{PROGRESS}:{action_id}")
    if not found or found.get("deleted"):
        return NOT_REPORTED
    status = str(found.get("status") or "not_started")
    raw = found.get("progress")
    return FollowUp(
        status=status if status in STATUSES else "not_started",
        progress=max(0, min(100, raw)) if isinstance(raw, int) else 0,
        note=str(found.get("note") or ""), due=parse_due(found.get("due")),
        updated_at=parse_time(found.get("updated_at")),
        version=int(found.get("version") or 0),
        history=tuple(h for h in found.get("history") or [] if isinstance(h, dict)),
    )


def stored_progress(board: Board) -> list[Entity]:
    """Every report entity with its history: ``outcomes.json`` keeps them for re-import."""
    return [public(e) for e in board.live(PROGRESS)]


def stored_owners(board: Board) -> list[Entity]:
    return [public(e) for e in board.live(OWNER)]


def mean_percent(follow_ups: list[FollowUp]) -> int:
    """The average progress of actions that still count (dropped ones do not)."""
    counted = [f.percent for f in follow_ups if f.status != "dropped"]
    return round(sum(counted) / len(counted)) if counted else 0

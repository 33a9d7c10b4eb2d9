"""The JSON export (``"schema": 1``): complete, readable, and what ``facilitation import`` reads.

Each action, role, merge and vote is its stored entity (every field, including
ones this module does not know about) plus a few derived, human-friendly fields
(``ref``, ``room_name``, ``goal_names``, ``votes``, ``merged_into`` ...). The
importer takes the stored fields back and ignores the derived ones.
"""

from __future__ import annotations

from typing import Any

import orjson

from facilitation.outcomes.model import Action, Counts, Merged, Outcomes, Role

SCHEMA = 1

# Fields the export adds to stored entities; an import drops them again.
DERIVED = {
    "item": ("ref", "room_name", "goal_names", "votes", "merged_into", "follow_up"),
    "role": ("room_name",),
    "merge": ("ref", "sources", "room_names", "owner_summary", "due_summary", "status_summary",
              "goal_names", "votes", "live_items", "follow_up"),
}


def _counts(c: Counts) -> dict[str, int]:
    return {"actions": c.actions, "proposed": c.proposed, "agreed": c.agreed, "done": c.done,
            "roles": c.roles, "merged": c.merged, "votes": c.votes}


def _follow_up(a: Action | Merged) -> dict[str, Any]:
    """The action's current follow-up (its history is in the top-level ``progress``)."""
    f = a.follow_up
    return {"status": f.status, "progress": f.progress, "note": f.note,
            "due": f.due.isoformat() if f.due else None, "version": f.version,
            "updated_at": f.updated_at.isoformat().replace("+00:00", "Z") if f.updated_at else None}


def _action(a: Action) -> dict[str, Any]:
    return {**a.stored, "ref": a.ref, "room_name": a.room.name,
            "goal_names": [g.text for g in a.goals], "votes": a.votes, "merged_into": a.merged_into,
            "follow_up": _follow_up(a)}


def _role(r: Role) -> dict[str, Any]:
    return {**r.stored, "room_name": r.room.name}


def _merge(m: Merged) -> dict[str, Any]:
    return {
        **m.stored, "ref": m.ref, "sources": [a.ref for a in m.sources],
        "live_items": [a.id for a in m.sources], "room_names": [r.name for r in m.rooms],
        "owner_summary": m.owner, "due_summary": m.due.isoformat() if m.due else None,
        "status_summary": m.status, "goal_names": [g.text for g in m.goals], "votes": m.votes,
        "follow_up": _follow_up(m),
    }


def document(o: Outcomes) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "generator": "facilitation",
        "exported_at": o.exported_at.isoformat().replace("+00:00", "Z"),
        "event": {
            "id": o.event_id, "title": o.title, "language": o.language, "seq": o.seq,
            "goals": [{"id": g.id, "text": g.text} for g in o.goals],
            "rooms": [
                {"id": r.room.id, "number": r.room.number, "name": r.room.name,
                 "prompt": r.room.prompt, "locked": r.room.locked, "listed": r.room.known,
                 "counts": _counts(r.counts)}
                for r in o.rooms
            ],
        },
        "totals": {**_counts(o.totals), "merges": len(o.merges), "rooms": len(o.rooms)},
        "actions": [_action(a) for r in o.rooms for a in r.actions],
        "roles": [_role(x) for r in o.rooms for x in r.roles],
        "merges": [_merge(m) for m in o.merges],
        "votes": list(o.votes),
        "goal_alignment": [
            {"goal": line.goal.id, "text": line.goal.text,
             "rooms": {r.room.id: n for r, n in zip(o.rooms, line.per_room, strict=True)},
             "total": line.total, "addressed": line.addressed}
            for line in o.alignment
        ],
        "untagged": {r.room.id: n for r, n in zip(o.rooms, o.untagged, strict=True)},
        # Follow-up after the event: the owners given links, and every report on an action
        # (id = the action's id) with its history, oldest first; re-imported as they are.
        "owners": list(o.owner_entities),
        "progress": list(o.reports),
    }


def render(o: Outcomes) -> bytes:
    return orjson.dumps(document(o), option=orjson.OPT_INDENT_2) + b"\n"

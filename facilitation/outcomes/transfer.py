"""Export to a file and re-import from the JSON export, through the store.

``import_event`` recreates an event from ``outcomes.json``: a new event id and
new tokens, the same rooms, goals, actions, roles, merges and votes, with their
statuses, authors and times. It appends ordinary commands through the store, so
the new event is exactly as if its rooms had typed it (one change per entity).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import orjson

from facilitation.domain import (
    ITEM,
    MERGE,
    OWNER,
    PROGRESS,
    ROLE,
    ROOM,
    VOTE,
    Command,
    Conflict,
    Entity,
    make_command,
)
from facilitation.outcomes import Export, export
from facilitation.outcomes.intake import BadExport, check
from facilitation.schemas import EventIn

if TYPE_CHECKING:
    from facilitation.domain import Secrets
    from facilitation.services import Services

__all__ = ["BadExport", "export_event", "import_event"]

CHUNK = 500  # appends in flight at once: enough for the store's group commit


async def export_event(services: Services, event_id: str, fmt: str) -> Export:
    board = await services.snapshot(event_id)
    return await asyncio.to_thread(export, board, fmt)


def _commands(plan: dict[str, Any], rooms: dict[str, str], goals: dict[str, str]) -> list[
        list[Command]]:
    """The commands that recreate the content (``intake.check``'s, old ids mapped to the
    new event's), in phases that must follow each other."""
    def create(kind: str, entity: Entity, room: str | None, **fields: Any) -> Command:
        body = {k: v for k, v in entity.items() if k not in ("id", "room")}
        return make_command(kind, "create", str(entity["id"]), room, {**body, **fields},
                            imported=kind == VOTE)

    items = [create(ITEM, e, rooms[e["room"]], goals=[goals[g] for g in e["goals"]])
             for e in plan["actions"]]
    roles = [create(ROLE, e, rooms[e["room"]]) for e in plan["roles"]]
    merges = []
    for e in plan["merges"]:
        # Its own goals when it has them; else its sources' (plenary.actions).
        own = {} if e["goals"] is None else {"goals": [goals[g] for g in e["goals"]]}
        merges.append(create(MERGE, {k: v for k, v in e.items() if k != "goals"}, None,
                             rooms=[rooms[r] for r in e["rooms"]], **own))
    # Judged when they were given: voting open, within the budget, before a merge.
    votes = [create(VOTE, e, None) for e in plan["votes"]]
    # Follow-up: the owners (same ids: they are named by their spelling) and every
    # report with its history and times, on the actions imported above.
    item_rooms = {e["id"]: rooms[e["room"]] for e in plan["actions"]}
    follow_up = [create(OWNER, e, None) for e in plan["owners"]]
    follow_up += [create(PROGRESS, e, item_rooms.get(e["id"])) for e in plan["progress"]]
    return [items + roles, merges, votes, follow_up]


async def _append_all(services: Services, event_id: str, commands: Iterable[Command]) -> None:
    batch = list(commands)
    for start in range(0, len(batch), CHUNK):
        await asyncio.gather(*(services.submit(event_id, c) for c in batch[start:start + CHUNK]))


async def import_event(services: Services, doc: Any) -> tuple[str, Secrets]:
    """Recreate the exported event under a new id and new tokens.

    Every entity is checked first, with the API's rules (``intake.check``): a bad file
    creates nothing and ``BadExport`` names its first bad field."""
    plan = check(doc)
    event_id, secrets = await services.create_event(EventIn.model_validate_json(
        orjson.dumps(plan["event"])))
    board = await services.board(event_id)
    new_rooms = [r["id"] for r in board.event["rooms"]]
    new_goals = [g["id"] for g in board.event["goals"]]
    rooms = dict(zip(plan["room_ids"], new_rooms, strict=True))
    goals = dict(zip(plan["goal_ids"], new_goals, strict=True))
    for phase in _commands(plan, rooms, goals):
        await _append_all(services, event_id, phase)
    # Locks last: a locked room refuses the writes above.
    for old_room, locked in zip(plan["room_ids"], plan["locked"], strict=True):
        if locked:
            new_room = rooms[old_room]
            lock = make_command(ROOM, "create", new_room, None, {"locked": True})
            try:
                await services.store.append(event_id, lock)
            except Conflict:
                current = (await services.board(event_id)).entities[f"{ROOM}:{new_room}"]
                await services.submit(event_id, make_command(
                    ROOM, "update", new_room, None, {"locked": True}, version=current["version"]))
    return event_id, secrets

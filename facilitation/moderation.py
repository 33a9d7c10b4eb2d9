"""The moderator's actions (and the participants' votes), shared by the API and the pages.

Each one checks its input against the current board, then appends commands to the
event's log like every other change: so they are durable, idempotent, streamed
live to every page, replayed on reconnect and found in the exports. The rules that
span entities (a vote budget, an item in one joint action, a room removed only
while empty, a new room with its join link) are not checked here but in the
store's atomic append (rules.py): several workers serve one event. Refusals are
domain errors (domain.DomainError); the web layer turns them into HTTP answers.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from facilitation import domain
from facilitation.domain import (
    EVENT,
    ITEM,
    MERGE,
    MESSAGE,
    MESSAGE_ID,
    PLENARY,
    PLENARY_ID,
    ROOM,
    TIMER,
    TIMER_ID,
    VOTE,
    Appended,
    Board,
    Conflict,
    Invalid,
    NotFound,
    join_field,
    make_command,
    vote_id,
)

if TYPE_CHECKING:
    from facilitation.schemas import (
        EventPatch,
        MergeIn,
        ModeratedItemPatch,
        PlenaryPatch,
        TimerIn,
    )
    from facilitation.services import Services


def _known_goals(board: Board, goals: list[str]) -> None:
    known = {g["id"] for g in board.event.get("goals", [])}
    for goal in goals:
        if goal not in known:
            raise Invalid(f"goals: unknown goal id {goal!r}")


# -- rooms -----------------------------------------------------------------------------------


async def set_lock(services: Services, event_id: str, room_id: str, locked: bool) -> dict[str, Any]:
    board = await services.board(event_id)
    services.room_of(board, room_id)
    await services.upsert(event_id, ROOM, room_id, None, {"locked": locked})
    return services.room_of(await services.board(event_id), room_id)


async def set_lock_all(services: Services, event_id: str, locked: bool) -> list[dict[str, Any]]:
    board = await services.board(event_id)
    for room in board.event["rooms"]:
        if board.room_locked(room["id"]) != locked:
            await services.upsert(event_id, ROOM, room["id"], None, {"locked": locked})
    board = await services.board(event_id)
    return [services.room_of(board, room["id"]) for room in board.event["rooms"]]


async def edit_event(services: Services, event_id: str, patch: EventPatch) -> Board:
    """Title, rooms (kept by id, added without one, removed when empty), plan goals."""
    board = await services.board(event_id)
    event = board.event
    fields: dict[str, Any] = {}
    if patch.title is not None:
        fields["title"] = patch.title
    if patch.goals is not None:
        known = {g["id"] for g in event["goals"]}
        taken = {g.id for g in patch.goals if g.id}
        if taken - known:
            raise Invalid(f"goals: unknown goal id {sorted(taken - known)[0]!r}")
        number = 1 + max((int(g[1:]) for g in known | taken if g[1:].isdigit()), default=0)
        goals = []
        for goal in patch.goals:
            if goal.id is None:
                goals.append({"id": f"g{number}", "text": goal.text})
                number += 1
            else:
                goals.append({"id": goal.id, "text": goal.text})
        fields["goals"] = goals
    new_rooms: list[str] = []
    if patch.rooms is not None:
        known = {r["id"] for r in event["rooms"]}
        rooms = []
        for room in patch.rooms:
            if room.id is not None and room.id not in known:
                raise Invalid(f"rooms: unknown room id {room.id!r}")
            room_id = room.id or domain.new_id()
            if room.id is None:
                new_rooms.append(room_id)
            rooms.append({"id": room_id, "name": room.name, "prompt": room.prompt})
        # A room removed must be empty: the store's append refuses it otherwise.
        fields["rooms"] = rooms
    if not fields:
        return board
    # A new room and its join link are stored together, by the same append.
    command = make_command(EVENT, "update", event_id, None, fields, version=event["version"],
                           tokens={join_field(room_id): domain.new_token() for room_id in new_rooms})
    await services.submit(event_id, command)
    return await services.board(event_id)


# -- merges ----------------------------------------------------------------------------------


async def create_merge(services: Services, event_id: str, body: MergeIn) -> Appended:
    board = await services.board(event_id)
    item_ids = list(dict.fromkeys(body.items))
    if len(item_ids) < 2:
        raise Invalid("items: a merge needs at least two different items")
    items = []
    for item_id in item_ids:
        # Read for the joint action's fields; that no other live joint action has it
        # is the store's rule, decided in its atomic append.
        item = board.entities.get(domain.entity_key(ITEM, item_id))
        if item is None or item.get("deleted"):
            raise NotFound(f"There is no action item {item_id!r} in this event.")
        items.append(item)
    rooms = list(dict.fromkeys(item["room"] for item in items))
    text = body.text or items[0]["text"]
    goals = list(dict.fromkeys(g for item in items for g in item.get("goals", [])))
    fields = {"text": text, "items": item_ids, "rooms": rooms, "goals": goals,
              "owner": next((i["owner"] for i in items if i.get("owner")), ""),
              "due": min((i["due"] for i in items if i.get("due")), default=None),
              "status": "proposed"}
    return await services.submit(
        event_id, make_command(MERGE, "create", str(body.id), None, fields))


async def update_merge(services: Services, event_id: str, merge_id: str,
                       fields: dict[str, Any], version: int | None) -> Appended:
    board = await services.board(event_id)
    if "goals" in fields:
        _known_goals(board, fields["goals"])
    return await services.submit(
        event_id, make_command(MERGE, "update", merge_id, None, fields, version=version))


async def delete_merge(services: Services, event_id: str, merge_id: str) -> None:
    board = await services.board(event_id)
    if board.entities.get(domain.entity_key(MERGE, merge_id)) is None:
        raise NotFound("There is no such joint action.")
    await services.upsert(event_id, MERGE, merge_id, None, None, delete=True)


async def moderate_item(services: Services, event_id: str, item_id: str,
                        patch: ModeratedItemPatch) -> Appended:
    """Tag an item to plan goals or mark it agreed in plenary; passes the room's lock."""
    board = await services.board(event_id)
    item = board.entities.get(domain.entity_key(ITEM, item_id))
    if item is None or item.get("deleted"):
        raise NotFound("There is no such action item.")
    fields = patch.model_dump(include=patch.model_fields_set)
    if fields.get("goals") is None:
        fields.pop("goals", None)
    if fields.get("status") is None:
        fields.pop("status", None)
    if not fields:
        raise Invalid("Send goals or status to change.")
    if "goals" in fields:
        _known_goals(board, fields["goals"])
    appended = await services.upsert(event_id, ITEM, item_id, item["room"], fields, moderated=True)
    assert appended is not None
    return appended


# -- the plenary's state ---------------------------------------------------------------------


async def set_plenary(services: Services, event_id: str, patch: PlenaryPatch) -> dict[str, Any]:
    board = await services.board(event_id)
    fields = patch.model_dump(include=patch.model_fields_set)
    if fields.get("spotlight") is not None:
        services.room_of(board, fields["spotlight"])
    for name in ("view", "sort", "voting", "votes_per_person", "theme"):
        if name in fields and fields[name] is None:
            del fields[name]
    if fields.get("view") == "spotlight" and not (
            fields.get("spotlight") or board.singleton(PLENARY).get("spotlight")):
        fields["spotlight"] = board.event["rooms"][0]["id"]
    if fields:
        await services.upsert(event_id, PLENARY, PLENARY_ID, None, fields)
    return (await services.board(event_id)).singleton(PLENARY)


async def start_timer(services: Services, event_id: str, body: TimerIn) -> dict[str, Any]:
    ends = datetime.now(UTC) + timedelta(seconds=body.seconds)
    ends_at = ends.isoformat(timespec="seconds").replace("+00:00", "Z")
    await services.upsert(event_id, TIMER, TIMER_ID, None,
                          {"ends_at": ends_at, "seconds": body.seconds, "label": body.label})
    return (await services.board(event_id)).singleton(TIMER)


async def stop_timer(services: Services, event_id: str) -> dict[str, Any]:
    await services.upsert(event_id, TIMER, TIMER_ID, None, {"ends_at": None})
    return (await services.board(event_id)).singleton(TIMER)


async def set_message(services: Services, event_id: str, text: str) -> dict[str, Any]:
    await services.upsert(event_id, MESSAGE, MESSAGE_ID, None, {"text": text})
    return (await services.board(event_id)).singleton(MESSAGE)


# -- votes -----------------------------------------------------------------------------------


def voter_id(event_id: str, person: str) -> str:
    """An opaque, stable id for one person in one event (never their session id itself)."""
    return hashlib.sha256(f"{event_id}\x00{person}".encode()).hexdigest()[:20]


async def vote(services: Services, event_id: str, voter: str, target: str,
               give: bool) -> Appended | None:
    """Give (or withdraw) ``voter``'s one vote for an action: an item or a joint action.

    The vote's id is derived from the voter and the action, so one person has at
    most one vote per action; that voting is open, the action is there and not
    merged, and the voter has a vote left are decided by the store's append."""
    entity_id = vote_id(voter, target)
    for _ in range(8):
        board = await services.board(event_id)
        mine = board.entities.get(domain.entity_key(VOTE, entity_id))
        live = mine is not None and not mine.get("deleted")
        if give and live:
            assert mine is not None
            return Appended(_as_change(board, mine), True)  # one vote per person per action
        if not give and not live:
            if not board.singleton(PLENARY).get("voting"):
                raise Conflict("Voting is not open right now.")
            return None
        if give:
            key = None if mine is None else f"{VOTE}:{entity_id}:v{mine['version']}:again"
            command = make_command(VOTE, "create", entity_id, None,
                                   {"item": target, "voter": voter}, key=key)
        else:
            assert mine is not None
            command = make_command(VOTE, "delete", entity_id, None, version=mine["version"],
                                   key=f"{VOTE}:{entity_id}:v{mine['version']}:deleted")
        try:
            return await services.submit(event_id, command)
        except domain.StaleVersion:
            continue  # withdrawn and given again meanwhile: decide on what is there now
        except Conflict:
            # The same person's same vote, given meanwhile by another request (on
            # another worker, say): that is this vote. Anything else is the refusal.
            again = (await services.board(event_id)).entities.get(domain.entity_key(VOTE, entity_id))
            if (again is not None and not again.get("deleted")) != give:
                raise
    raise Conflict("This vote was changed many times at once; try again.")


def _as_change(board: Board, entity: dict[str, Any]) -> domain.Change:
    return domain.Change(board.seq, None, "vote.created", "", entity["updated_at"], entity)

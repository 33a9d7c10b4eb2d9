"""The rules that span entities, decided inside each store's one atomic append.

``domain.decide`` judges one command against one entity. A few rules need more:
a person's votes within the budget, an item in at most one live joint action, a
room removed only while empty (and nothing created in a room that is gone), a
new room with its join token, a rotation with its new token. ``judge`` decides
all of it against ``Reads``, the store's current state as seen from inside its
atomic append: the SQLite writer's board plus the batch decided so far, or in
Redis the values the Lua script checks are unchanged before it stores anything.
No rule is kept in a process's memory: several workers and machines serve one
event, and only the store sees every write.

Besides the entities, a decision reads small indexes that every append keeps up
to date (``index_writes``), so no rule has to scan the event:

- ``locks``      room id -> "1" while the room is locked
- ``ballots``    voter -> how many live votes they have given
- ``claims``     item id -> the live joint action (merge) that stands for it
- ``occupancy``  room id -> how many live items and roles it holds
- ``rooms``      room id -> "1" for every room of the event
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from facilitation.domain import (
    ACCESS,
    EVENT,
    ITEM,
    LOCKABLE,
    MERGE,
    PLENARY,
    PLENARY_ID,
    ROLE,
    ROOM,
    VOTE,
    Board,
    Command,
    Conflict,
    DomainError,
    Entity,
    NotFound,
    decide,
    entity_key,
    join_field,
    vote_id,
)

LOCKS = "locks"
BALLOTS = "ballots"
CLAIMS = "claims"
OCCUPANCY = "occupancy"
ROOMS = "rooms"
INDEXES = (LOCKS, BALLOTS, CLAIMS, OCCUPANCY, ROOMS)

# One index write: (index, field, op, value). op "S" sets value, "D" deletes the
# field, "I" adds int(value) to a counter (absent counts as 0).
Write = tuple[str, str, str, str]


class Reads(Protocol):
    """The store's current state, as its atomic append sees it."""

    def entity(self, key: str) -> Entity | None: ...

    def value(self, index: str, field: str) -> str:
        """The index's field; "" when absent."""


def _live(entity: Entity | None) -> bool:
    return entity is not None and not entity.get("deleted")


def _room_ids(event: Entity | None) -> list[str]:
    return [room["id"] for room in event.get("rooms", [])] if _live(event) else []  # type: ignore[union-attr]


def _merged(merge: Entity | None) -> list[str]:
    return list(merge.get("items", [])) if _live(merge) else []  # type: ignore[union-attr]


def judge(command: Command, reads: Reads, at: str) -> tuple[Entity, list[Write]]:
    """The entity after ``command`` and the index writes that go with it, or a
    DomainError saying why not."""
    current = reads.entity(command.entity_key)
    locked = (command.kind in LOCKABLE and bool(command.room)
              and reads.value(LOCKS, command.room or "") == "1")
    data = decide(command, current, locked, at)
    _check(command, current, data, reads)
    return data, index_writes(command.kind, current, data)


def _check(command: Command, before: Entity | None, after: Entity, reads: Reads) -> None:
    kind = command.kind
    if kind in (ITEM, ROLE) and not _live(before) and _live(after):
        # A create racing the room's removal: one of the two is refused, never an orphan.
        if reads.value(ROOMS, command.room or "") != "1":
            raise NotFound("There is no such room in this event.")
    elif kind == EVENT and before is not None:
        _check_rooms(command, before, after, reads)
    elif kind == VOTE:
        _check_vote(command, after, reads)
    elif kind == MERGE:
        for item_id in set(_merged(after)) - set(_merged(before)):
            if not _live(reads.entity(entity_key(ITEM, item_id))):
                raise NotFound(f"There is no action item {item_id!r} in this event.")
            if reads.value(CLAIMS, item_id) not in ("", command.entity_id):
                raise Conflict("One of these items is already part of a joint action.")
    elif kind == ACCESS:
        if not command.tokens:
            raise DomainError("A rotation stores its new token with the change that announces it.")
        for token_field in command.tokens:
            if token_field.startswith("join:") and reads.value(ROOMS, token_field[5:]) != "1":
                raise NotFound("There is no such room in this event.")


def _check_rooms(command: Command, before: Entity, after: Entity, reads: Reads) -> None:
    names = {room["id"]: room.get("name", "") for room in before.get("rooms", [])}
    kept = set(_room_ids(after))
    for gone in _room_ids(before):
        if gone not in kept and int(reads.value(OCCUPANCY, gone) or 0) > 0:
            raise Conflict(
                f"The room “{names[gone]}” has action items or roles, so it cannot be removed.")
    for added in kept - set(_room_ids(before)):
        if not command.tokens.get(join_field(added)):
            raise DomainError("A new room is stored with its join token.")


def _check_vote(command: Command, after: Entity, reads: Reads) -> None:
    plenary = reads.entity(entity_key(PLENARY, PLENARY_ID))
    if not command.imported and not (_live(plenary) and plenary.get("voting")):  # type: ignore[union-attr]
        raise Conflict("Voting is not open right now.")
    if not _live(after):
        return  # withdrawn
    voter, target = str(after.get("voter", "")), str(after.get("item", ""))
    if command.entity_id != vote_id(voter, target):
        # One vote per person per action: the pair names the vote.
        raise DomainError("A vote's id is derived from its voter and its action.")
    if not (_live(reads.entity(entity_key(MERGE, target)))
            or _live(reads.entity(entity_key(ITEM, target)))):
        raise NotFound("There is no such action to vote for.")
    if command.imported:
        return
    if reads.value(CLAIMS, target):
        raise Conflict("This item is part of a joint action now: vote for that instead.")
    assert plenary is not None
    budget = int(plenary.get("votes_per_person", 3))
    if int(reads.value(BALLOTS, voter) or 0) >= budget:
        raise Conflict("You have used all your votes. Take one back to give it elsewhere.")


def index_writes(kind: str, before: Entity | None, after: Entity) -> list[Write]:
    """What a change from ``before`` to ``after`` does to the indexes."""
    was, now = _live(before), _live(after)
    if kind == ROOM:
        return [(LOCKS, after["id"], "S", "1" if after.get("locked") else "0")]
    if kind == VOTE and was != now:
        return [(BALLOTS, str(after["voter"]), "I", "1" if now else "-1")]
    if kind in (ITEM, ROLE) and was != now:
        return [(OCCUPANCY, str(after["room"]), "I", "1" if now else "-1")]
    if kind == MERGE:
        old, new = set(_merged(before)), set(_merged(after))
        return ([(CLAIMS, i, "D", "") for i in sorted(old - new)]
                + [(CLAIMS, i, "S", after["id"]) for i in sorted(new - old)])
    if kind == EVENT:
        old, new = set(_room_ids(before)), set(_room_ids(after))
        return ([(ROOMS, r, "D", "") for r in sorted(old - new)]
                + [(ROOMS, r, "S", "1") for r in sorted(new - old)])
    return []


@dataclass
class Indexes:
    """The indexes of one event, kept in memory (the SQLite store's; Redis keeps
    them in hashes, built once from this for events stored before they existed)."""

    values: dict[str, dict[str, str]] = field(default_factory=lambda: {n: {} for n in INDEXES})

    def get(self, index: str, name: str) -> str:
        return self.values[index].get(name, "")

    def write(self, writes: Iterable[Write]) -> None:
        for index, name, op, value in writes:
            table = self.values[index]
            if op == "S":
                table[name] = value
            elif op == "D":
                table.pop(name, None)
            else:
                table[name] = str(int(table.get(name) or 0) + int(value))

    @classmethod
    def of(cls, board: Board) -> Indexes:
        indexes = cls()
        for key, entity in board.entities.items():
            indexes.write(index_writes(key.split(":", 1)[0], None, entity))
        return indexes

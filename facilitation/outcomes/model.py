"""The consolidated outcomes of one event: one model, built from its board.

Every export format is rendered from this model and nothing else, so a CSV, a
spreadsheet and a report of the same moment cannot disagree. Building it is
pure (no I/O): it reads a ``domain.Board`` snapshot, keeps only what is live
(deleted items, roles, merges and votes are gone), and derives what organisers
ask for: references they can quote, merged actions with their sources, votes,
per-room counts, the goal alignment summary, the roles matrix with its conflicts
(the plenary's rule, ``plenary.roles_matrix``), each owner's list and what is
still without an owner or a due date.

Adding a per-action field (say, follow-up progress): add it to ``Action`` and
``Merged`` (with a default), fill it in ``build``/``_merged``, and add one column
to ``tabular.ACTION_COLUMNS``; the CSV, the spreadsheet and the JSON follow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

from facilitation.domain import EVENT, ITEM, MERGE, ROLE, VOTE, Board, Entity, public
from facilitation.outcomes.progress import (
    NOT_REPORTED,
    FollowUp,
    follow_up,
    stored_owners,
    stored_progress,
)
from facilitation.outcomes.safety import one_line

TOP_ACTIONS = 10  # how many of the most voted actions the summary shows


@dataclass(frozen=True)
class Goal:
    id: str
    text: str
    known: bool = True  # False: an item still carries a goal the event no longer has
    code: str = ""  # "G2": how tables refer to it, with a legend ("" for a removed goal)

    @property
    def label(self) -> str:
        return self.code or self.text


@dataclass(frozen=True)
class Room:
    id: str
    number: int  # 1-based position in the event: "R2.3" is room 2's third action
    name: str
    prompt: str
    locked: bool
    known: bool = True  # False: items of a room the event no longer lists (kept, never lost)


@dataclass(frozen=True)
class Action:
    ref: str
    id: str
    room: Room
    text: str
    owner: str
    due: date | None
    goals: tuple[Goal, ...]
    status: str
    author: str
    votes: int
    merged_into: str  # ref of the merged action ("" when not merged)
    version: int
    created_at: datetime
    updated_at: datetime
    stored: Entity  # the entity as the API shows it: the JSON keeps every field
    follow_up: FollowUp = NOT_REPORTED  # the owner's last report after the event

    @property
    def owners(self) -> tuple[str, ...]:
        return (self.owner,) if self.owner.strip() else ()

    @property
    def rooms(self) -> tuple[Room, ...]:
        return (self.room,)


@dataclass(frozen=True)
class Role:
    id: str
    room: Room
    actor: str
    role: str
    responsibility: str
    author: str
    version: int
    created_at: datetime
    updated_at: datetime
    stored: Entity


@dataclass(frozen=True)
class Merged:
    """One action agreed across rooms, listed once, with every source it came from."""

    ref: str
    id: str
    text: str
    sources: tuple[Action, ...]
    rooms: tuple[Room, ...]
    owner: str
    due: date | None
    status: str
    goals: tuple[Goal, ...]
    votes: int
    author: str
    version: int
    created_at: datetime
    updated_at: datetime
    stored: Entity
    owners: tuple[str, ...] = ()  # its owner, or each distinct owner of its sources
    follow_up: FollowUp = NOT_REPORTED  # the owner's last report after the event


@dataclass(frozen=True)
class RoleConflict:
    """Two role assignments that clash (``plenary.roles_matrix``'s rule)."""

    kind: str  # "two_leads": two actors lead one responsibility; "contradicting": one actor, two roles
    first: Role
    second: Role
    responsibility: str


@dataclass(frozen=True)
class ActorRoles:
    """One line of the roles matrix: an actor's roles in each room."""

    actor: str
    per_room: tuple[tuple[Role, ...], ...]  # in the order of Outcomes.rooms
    conflict: bool


@dataclass(frozen=True)
class OwnerActions:
    """What one owner has to do: to send to them."""

    owner: str
    actions: tuple[Action | Merged, ...]


@dataclass(frozen=True)
class Counts:
    actions: int = 0
    proposed: int = 0
    agreed: int = 0
    done: int = 0
    roles: int = 0
    merged: int = 0  # actions of this room that are part of a merged action
    votes: int = 0


@dataclass(frozen=True)
class RoomOutcomes:
    room: Room
    actions: tuple[Action, ...]
    roles: tuple[Role, ...]
    counts: Counts

    @property
    def listed(self) -> Counts:
        """The room as the plenary board's column lists it: its actions not merged into
        a joint action (which is counted once, on a line of its own: ``Outcomes.joint``).
        ``counts`` counts every action of the room, merged ones too, as the rows of the
        CSV and the spreadsheet list them (with ``merged``)."""
        return _counts([a for a in self.actions if not a.merged_into], self.roles)


@dataclass(frozen=True)
class GoalAlignment:
    """How many actions of each room are tagged with one plan goal."""

    goal: Goal
    per_room: tuple[int, ...]  # in the order of Outcomes.rooms
    total: int

    @property
    def addressed(self) -> bool:
        return self.total > 0


@dataclass(frozen=True)
class Outcomes:
    event_id: str
    title: str
    language: str
    seq: int
    exported_at: datetime
    goals: tuple[Goal, ...]
    rooms: tuple[RoomOutcomes, ...]
    merges: tuple[Merged, ...]
    alignment: tuple[GoalAlignment, ...]
    untagged: tuple[int, ...]  # per room: unmerged actions and merged actions with no goal
    votes: tuple[Entity, ...]  # live vote entities, kept for the JSON and its re-import
    totals: Counts = field(default_factory=Counts)
    actors: tuple[ActorRoles, ...] = ()
    conflicts: tuple[RoleConflict, ...] = ()
    # Follow-up: the owners the organiser gave links to (spellings joined into one), and
    # every report with its history (kept for the JSON and its re-import).
    owner_entities: tuple[Entity, ...] = ()
    reports: tuple[Entity, ...] = ()

    @property
    def actions(self) -> list[Action]:
        return [a for r in self.rooms for a in r.actions]

    @property
    def roles(self) -> list[Role]:
        return [r for room in self.rooms for r in room.roles]

    @property
    def board_actions(self) -> list[Action | Merged]:
        """As the plenary lists them: each room's unmerged actions, then the joint actions."""
        return [*(a for a in self.actions if not a.merged_into), *self.merges]

    @property
    def joint(self) -> Counts:
        """The joint actions, counted as one line of the summary."""
        return _counts(list(self.merges), [])

    @property
    def listed(self) -> Counts:
        """Every action as the board, the follow-up and the summary list it: each room's
        actions not merged away, and each joint action once."""
        return _counts(self.board_actions, self.roles)

    @property
    def top(self) -> list[Action | Merged]:
        """The most voted actions, most votes first (ties in board order)."""
        voted = [a for a in self.board_actions if a.votes > 0]
        return sorted(voted, key=lambda a: -a.votes)[:TOP_ACTIONS]

    @property
    def unassigned(self) -> list[Action | Merged]:
        """Actions still without an owner or without a due date."""
        return [a for a in self.board_actions if not a.owners or a.due is None]

    @property
    def owners(self) -> list[OwnerActions]:
        """Each owner's actions (joint actions once, under each of their owners), by name."""
        found: dict[str, tuple[str, list[Action | Merged]]] = {}
        for action in self.board_actions:
            for owner in dict.fromkeys(self.owner_key(o) for o in action.owners):
                name = self.owner_names.get(owner) or one_line(
                    next(o for o in action.owners if self.owner_key(o) == owner))
                found.setdefault(owner, (name, []))[1].append(action)
        return [OwnerActions(name, tuple(actions))
                for _, (name, actions) in sorted(found.items())]

    def owned_by(self, owner: str) -> list[Action | Merged]:
        wanted = self.owner_key(owner)
        return [a for a in self.board_actions if wanted in {self.owner_key(o) for o in a.owners}]

    @property
    def owner_names(self) -> dict[str, str]:
        """Follow-up owners: their first spelling -> the name the organiser's links use."""
        return {o["keys"][0]: str(o.get("name", "")) for o in self.owner_entities if o.get("keys")}

    def owner_key(self, name: str) -> str:
        """Which owner a spelling means: the follow-up owner it was joined into, if any."""
        key = same_owner(name)
        for owner in self.owner_entities:
            keys = owner.get("keys") or []
            if key in keys:
                return str(keys[0])
        return key

    @property
    def goal_progress(self) -> list[tuple[Goal, int, int, int]]:
        """Per plan goal, as the follow-up reports it: (goal, actions, done, average %);
        a done action counts 100 %, dropped ones count in no average."""
        out = []
        for goal in self.goals:
            serving = [a for a in self.board_actions if goal in a.goals]
            counted = [a.follow_up.percent for a in serving if a.follow_up.status != "dropped"]
            out.append((goal, len(serving), sum(1 for a in serving if a.follow_up.status == "done"),
                        round(sum(counted) / len(counted)) if counted else 0))
        return out

    @property
    def followed_up(self) -> bool:
        """Whether follow-up has started: owners have links or someone reported."""
        return bool(self.owner_entities or self.reports)


def same_owner(name: str) -> str:
    """Owners compared as the follow-up links compare them: no case, no extra spaces."""
    return one_line(name).casefold()


def parse_time(raw: Any) -> datetime:
    """Stored times are ISO 8601 UTC ("...Z"); always an aware UTC datetime here."""
    if isinstance(raw, str) and raw:
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            return datetime.fromtimestamp(0, UTC)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    return datetime.fromtimestamp(0, UTC)


def parse_due(raw: Any) -> date | None:
    if isinstance(raw, str) and raw:
        try:
            return date.fromisoformat(raw[:10])
        except ValueError:
            return None
    return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _rooms(board: Board) -> tuple[list[Room], dict[str, Room]]:
    rooms = [
        Room(r["id"], n, _text(r.get("name")), _text(r.get("prompt")), board.room_locked(r["id"]))
        for n, r in enumerate(board.event.get("rooms", []), start=1)
    ]
    by_id = {r.id: r for r in rooms}
    # Entries of a room the event no longer lists are still outcomes: never drop them.
    for kind in (ITEM, ROLE):
        for entity in board.live(kind):
            room_id = entity.get("room")
            if isinstance(room_id, str) and room_id not in by_id:
                orphan = Room(room_id, len(rooms) + 1, f"Room {len(rooms) + 1} (removed)", "",
                              board.room_locked(room_id), known=False)
                rooms.append(orphan)
                by_id[room_id] = orphan
    return rooms, by_id


def _goals_of(ids: Any, goals: dict[str, Goal]) -> tuple[Goal, ...]:
    if not isinstance(ids, list):
        return ()
    return tuple(goals.get(g) or Goal(str(g), f"{g} (removed goal)", known=False)
                 for g in dict.fromkeys(ids) if isinstance(g, str))


def _voters(votes: list[Entity]) -> dict[str, set[str]]:
    """Target id -> distinct voters (a vote without a voter counts as its own voter)."""
    by_target: dict[str, set[str]] = {}
    for vote in votes:
        target = vote.get("item")
        if isinstance(target, str):
            by_target.setdefault(target, set()).add(_text(vote.get("voter")) or vote["id"])
    return by_target


def build(board: Board, exported_at: datetime | None = None) -> Outcomes:
    """The outcomes of ``board``: pure, so it can run on any thread."""
    event = board.event
    goals = tuple(Goal(_text(g["id"]), _text(g.get("text")), code=f"G{n}")
                  for n, g in enumerate(event.get("goals", []), start=1))
    goal_by_id = {g.id: g for g in goals}
    rooms, room_by_id = _rooms(board)
    votes = board.live(VOTE)
    voters = _voters(votes)

    items_by_room: dict[str, list[Entity]] = {r.id: [] for r in rooms}
    for item in board.live(ITEM):
        items_by_room[item["room"]].append(item)
    roles_by_room: dict[str, list[Entity]] = {r.id: [] for r in rooms}
    for role in board.live(ROLE):
        roles_by_room[role["room"]].append(role)

    # Which merge each live item belongs to (the first merge that lists it).
    refs: dict[str, str] = {}
    live_merges: list[tuple[str, Entity, list[str]]] = []
    live_items = {i["id"] for items in items_by_room.values() for i in items}
    for merge in board.live(MERGE):
        # A joint action stays (the plenary shows it) even if a room deleted a source since.
        sources = [i for i in dict.fromkeys(merge.get("items") or []) if i in live_items]
        ref = f"M{len(live_merges) + 1}"
        live_merges.append((ref, merge, sources))
        for item_id in sources:
            refs.setdefault(item_id, ref)

    actions_by_id: dict[str, Action] = {}
    room_outcomes: list[RoomOutcomes] = []
    for room in rooms:
        actions = []
        for n, item in enumerate(items_by_room[room.id], start=1):
            action = Action(
                ref=f"R{room.number}.{n}", id=item["id"], room=room, text=_text(item.get("text")),
                owner=_text(item.get("owner")), due=parse_due(item.get("due")),
                goals=_goals_of(item.get("goals"), goal_by_id),
                status=_text(item.get("status")) or "proposed", author=_text(item.get("author")),
                votes=len(voters.get(item["id"], ())), merged_into=refs.get(item["id"], ""),
                version=int(item.get("version", 1)), created_at=parse_time(item.get("created_at")),
                updated_at=parse_time(item.get("updated_at")), stored=public(item),
                follow_up=follow_up(board, item["id"]),
            )
            actions.append(action)
            actions_by_id[action.id] = action
        roles = [
            Role(
                id=r["id"], room=room, actor=_text(r.get("actor")), role=_text(r.get("role")),
                responsibility=_text(r.get("responsibility")), author=_text(r.get("author")),
                version=int(r.get("version", 1)), created_at=parse_time(r.get("created_at")),
                updated_at=parse_time(r.get("updated_at")), stored=public(r),
            )
            for r in roles_by_room[room.id]
        ]
        room_outcomes.append(RoomOutcomes(room, tuple(actions), tuple(roles), _counts(actions, roles)))

    merges = tuple(
        replace(_merged(ref, merge, [actions_by_id[i] for i in sources], room_by_id, goal_by_id,
                        voters), follow_up=follow_up(board, merge["id"]))
        for ref, merge, sources in live_merges
    )
    alignment, untagged = _alignment(goals, room_outcomes, merges)
    all_actions = [a for r in room_outcomes for a in r.actions]
    all_roles = [x for r in room_outcomes for x in r.roles]
    actors, conflicts = _roles_matrix(board, rooms, all_roles)
    return Outcomes(
        event_id=board.event_id, title=_text(event.get("title")),
        language=_text(event.get("language")) or "en", seq=board.seq,
        exported_at=(exported_at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0),
        goals=goals, rooms=tuple(room_outcomes), merges=merges, alignment=alignment,
        untagged=untagged, votes=tuple(public(v) for v in votes),
        totals=_counts(all_actions, all_roles), actors=actors, conflicts=conflicts,
        owner_entities=tuple(stored_owners(board)), reports=tuple(stored_progress(board)),
    )


def _roles_matrix(board: Board, rooms: list[Room], roles: list[Role]
                  ) -> tuple[tuple[ActorRoles, ...], tuple[RoleConflict, ...]]:
    """Actors x rooms, and the conflicts the plenary flags (its rule, one place)."""
    from facilitation.plenary import roles_matrix

    by_id = {r.id: r for r in roles}
    # The plenary's read model on a board of the event and its roles only: on a whole
    # board it would also index every item for likely duplicates (follow.py), seconds
    # of work for 10,000 items that the outcomes never read.
    keep = (f"{EVENT}:", f"{ROLE}:")
    roles_only = Board(board.event_id, board.seq,
                       {k: v for k, v in board.entities.items() if k.startswith(keep)})
    matrix = roles_matrix(roles_only)
    conflicts = tuple(
        RoleConflict(c["kind"], by_id[c["roles"][0]["id"]], by_id[c["roles"][1]["id"]],
                     _text(c.get("responsibility")))
        for c in matrix["conflicts"]
        if c["roles"][0]["id"] in by_id and c["roles"][1]["id"] in by_id
    )
    flagged = {r.id for c in conflicts for r in (c.first, c.second)}
    # Rows built here rather than taken from the plenary's, so that roles of a room the
    # event no longer lists keep their column.
    grouped: dict[str, list[Role]] = {}
    for role in roles:
        grouped.setdefault(same_owner(role.actor), []).append(role)
    actors = tuple(
        ActorRoles(
            actor=found[0].actor.strip(),
            per_room=tuple(tuple(r for r in found if r.room.id == room.id) for room in rooms),
            conflict=any(r.id in flagged for r in found),
        )
        for _, found in sorted(grouped.items())
    )
    return actors, conflicts


def _counts(actions: Sequence[Action | Merged], roles: Sequence[Role]) -> Counts:
    return Counts(
        actions=len(actions),
        proposed=sum(1 for a in actions if a.status == "proposed"),
        agreed=sum(1 for a in actions if a.status == "agreed"),
        done=sum(1 for a in actions if a.status == "done"),
        roles=len(roles),
        merged=sum(1 for a in actions if getattr(a, "merged_into", "")),
        votes=sum(a.votes for a in actions),
    )


def _alignment(goals: tuple[Goal, ...], rooms: list[RoomOutcomes], merges: tuple[Merged, ...]
               ) -> tuple[tuple[GoalAlignment, ...], tuple[int, ...]]:
    """The plenary's rule (plenary.goal_matrix): actions are the unmerged items and the
    merged actions; a merged action counts once in every room it came from and once in
    the total."""
    lines: list[tuple[tuple[Goal, ...], tuple[str, ...]]] = [
        (a.goals, (r.room.id,)) for r in rooms for a in r.actions if not a.merged_into]
    lines += [(m.goals, tuple(room.id for room in m.rooms)) for m in merges]
    order = [r.room.id for r in rooms]

    def count(selected: list[tuple[str, ...]]) -> tuple[int, ...]:
        return tuple(sum(1 for where in selected if room in where) for room in order)

    alignment = []
    for goal in goals:
        serving = [where for tagged, where in lines if goal in tagged]
        alignment.append(GoalAlignment(goal, count(serving), len(serving)))
    return tuple(alignment), count([where for tagged, where in lines if not tagged])


def _merged(ref: str, merge: Entity, sources: list[Action], room_by_id: dict[str, Room],
            goal_by_id: dict[str, Goal], voters: dict[str, set[str]]) -> Merged:
    """A merged action: the moderator's fields, its sources' where the moderator left a gap."""
    stored_rooms = [room_by_id[r] for r in merge.get("rooms") or [] if r in room_by_id]
    rooms = tuple(dict.fromkeys([*stored_rooms, *(a.room for a in sources)]))
    owners = list(dict.fromkeys(a.owner.strip() for a in sources if a.owner.strip()))
    own_owner = _text(merge.get("owner")).strip()
    dues = [a.due for a in sources if a.due is not None]
    # The joint action's own goals: set from its sources when it was made, then the
    # moderator's (PATCH .../merges/{id}). Its sources' goals only for a merge without any.
    own_goals = merge.get("goals")
    goal_ids = (own_goals if isinstance(own_goals, list)
                else [g.id for a in sources for g in a.goals])
    # Interest in a merged action: distinct voters on it or on any of its sources.
    who: set[str] = set(voters.get(merge["id"], ()))
    for action in sources:
        who |= voters.get(action.id, set())
    return Merged(
        ref=ref, id=merge["id"],
        text=_text(merge.get("text")) or (sources[0].text if sources else ""),
        sources=tuple(sources), rooms=rooms,
        owner=own_owner or "; ".join(owners), owners=(own_owner,) if own_owner else tuple(owners),
        due=parse_due(merge.get("due")) or (min(dues) if dues else None),
        status=_text(merge.get("status")) or "proposed", goals=_goals_of(goal_ids, goal_by_id),
        votes=len(who), author=_text(merge.get("author")), version=int(merge.get("version", 1)),
        created_at=parse_time(merge.get("created_at")),
        updated_at=parse_time(merge.get("updated_at")), stored=public(merge),
    )

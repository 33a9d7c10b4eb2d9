"""The domain: events, their entities, and the one pure step every change takes.

Everything a room or a moderator does is a *command* on one *entity* (an action
item, a role assignment, a room's lock, the event's settings, ...). ``decide``
turns a command and the entity's current state into the entity's next state,
or refuses it. A store stores the result as a ``Change`` under the next
event-wide sequence number; ``Board.apply`` folds changes into the current
board. Both stores run exactly this code, so they cannot disagree.
"""

from __future__ import annotations

import bisect
import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from facilitation.i18n import N_

Entity = dict[str, Any]

# Kinds of entity. Items and roles belong to a room; the others are event-wide
# or moderator state. Adding a kind is adding a name here and its fields below.
ITEM = "item"
ROLE = "role"
EVENT = "event"
ROOM = "room"
# Moderator state (Part 3, the plenary). All event-wide: their changes carry room None.
MERGE = "merge"
VOTE = "vote"
PLENARY = "plenary"
TIMER = "timer"
MESSAGE = "message"

# The singletons' entity ids: one plenary state, one timer, one message per event.
PLENARY_ID = "plenary"
TIMER_ID = "timer"
MESSAGE_ID = "message"
# A token was rotated: entity id "plenary" or "join-<room id>"; never the token itself.
# Every worker's hub sees it in log order and closes the sockets the old token opened.
ACCESS = "access"
# Follow-up after the event (facilitation/followup.py). An owner is an organisation or a
# role named in actions' owner field: {"id", "name", "keys": [normalised spellings]}.
# A progress entity reports on one action (its id is the item's or joint action's id):
# room = the item's room (None for a joint action), never locked (the lock is on room
# writes; follow-up happens after the event), and it keeps its own history.
OWNER = "owner"
PROGRESS = "progress"
PROGRESS_STATUSES = ("not_started", "in_progress", "done", "dropped")
# The reports a progress entity keeps (newest last); the log keeps every one anyway.
HISTORY_MAX = 200

STATUSES = ("proposed", "agreed", "done")

# Fields a command may set, per kind; everything else is managed here.
EDITABLE: dict[str, tuple[str, ...]] = {
    ITEM: ("text", "owner", "due", "goals", "status", "author"),
    ROLE: ("actor", "role", "responsibility", "author"),
    EVENT: ("title", "goals", "rooms", "language"),
    ROOM: ("locked",),
    # merge {"id", "text", "items": [item ids], "rooms": [room ids, in first-seen order],
    #        "goals": [goal ids], "status", "version", "created_at", "updated_at"}:
    # one joint action that stands for its source items; the items stay in their rooms'
    # history, and the board and the outcomes show the merge once instead of them.
    MERGE: ("text", "items", "rooms", "goals", "status", "owner", "due"),
    # vote {"id", "item": item or merge id, "voter": opaque person id, "version", ...}:
    # id = vote_id(voter, item), so one person has at most one vote per action.
    VOTE: ("item", "voter"),
    # plenary {"id": "plenary", "view": one of PLENARY_VIEWS, "spotlight": room id | None,
    #          "sort": "time" | "votes", "voting": bool, "votes_per_person": int,
    #          "theme": "light" | "dark" (high contrast, for a bright room)}
    PLENARY: ("view", "spotlight", "sort", "voting", "votes_per_person", "theme"),
    # timer {"id": "timer", "ends_at": ISO time | None, "seconds": the duration set}
    TIMER: ("ends_at", "seconds", "label"),
    # message {"id": "message", "text": "" when cleared}: shown in every room and the plenary
    MESSAGE: ("text",),
    ACCESS: ("target", "rotation"),
    OWNER: ("name", "keys"),
    PROGRESS: ("status", "progress", "note", "due", "by"),
}

DEFAULTS: dict[str, Entity] = {
    ITEM: {"owner": "", "due": None, "goals": [], "status": "proposed", "author": ""},
    ROLE: {"responsibility": "", "author": ""},
    EVENT: {"goals": [], "rooms": [], "language": "en"},
    ROOM: {"locked": False},
    MERGE: {"goals": [], "status": "proposed", "owner": "", "due": None},
    PLENARY: {"view": "rooms", "spotlight": None, "sort": "time", "voting": False,
              "votes_per_person": 3, "theme": "light"},
    TIMER: {"ends_at": None, "seconds": 0, "label": ""},
    MESSAGE: {"text": ""},
    ACCESS: {"rotation": 0},
    OWNER: {"keys": []},
    PROGRESS: {"status": "not_started", "progress": 0, "note": "", "due": None, "by": ""},
}

PLENARY_VIEWS = ("rooms", "spotlight", "goals", "roles", "priorities", "join", "followup")

# Kinds that may be created again after a delete (a vote withdrawn and given again).
RECREATABLE = frozenset({VOTE, OWNER})

# Kinds whose writes are refused while their room is locked.
LOCKABLE = frozenset({ITEM, ROLE})


IMPORTED_TIMES = ("created_at", "updated_at")

PAST_TENSE = {"create": "created", "update": "updated", "delete": "deleted"}


class DomainError(Exception):
    """A refusal, or a failure, in the words of this app, not of HTTP.

    Every layer below the web raises these (the domain, the stores' rules, the
    services, moderation, follow-up); ``web/errors.py``'s ``from_domain`` is the one
    place that turns each ``code`` into an HTTP status. ``message`` is what a person
    reads (an English msgid, translated where it is shown)."""

    code = "invalid"

    def __init__(self, message: str, current: Entity | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.current = current


class Invalid(DomainError):
    """The request names something that cannot be (an unknown goal, one item to merge)."""

    code = "invalid"


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    code = "conflict"


class StaleVersion(Conflict):
    code = "stale_version"


class Locked(DomainError):
    code = "locked"


# What a person is told when a change could not be stored.
NOT_SAVED = N_("The server cannot store changes right now; nothing was saved. Try again shortly.")


class Unavailable(DomainError):
    """The store cannot answer right now: nothing was read or saved; try again."""

    code = "unavailable"

    def __init__(self, message: str = NOT_SAVED) -> None:
        super().__init__(message)


class Refused(DomainError):
    """The caller's link does not allow this (another room's, or another owner's)."""

    code = "forbidden"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_id() -> str:
    return secrets.token_hex(8)


def new_token() -> str:
    # 192 bits, URL-safe: travels in links and QR codes.
    return secrets.token_urlsafe(24)


def entity_key(kind: str, entity_id: str) -> str:
    return f"{kind}:{entity_id}"


def vote_id(voter: str, item: str) -> str:
    """The one vote ``voter`` may give ``item``: the same pair is always the same entity."""
    return hashlib.sha256(f"{voter}\x00{item}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Command:
    """One requested change to one entity.

    ``key`` is the idempotency key: the same key is stored once. ``fingerprint``
    tells a true retry (same body) from a reuse of the key with another body.
    """

    kind: str
    op: str  # "create" | "update" | "delete"
    entity_id: str
    room: str | None
    fields: Entity = field(default_factory=dict)
    version: int | None = None
    key: str = ""
    fingerprint: str = ""
    # The moderator annotating an item in plenary (goals, agreed) is not a write by the
    # room: it passes a room's lock. Only the organiser's moderation endpoints set it.
    moderated: bool = False
    # An import restoring an exported event: its votes were judged when they were
    # given (voting open, within the budget, before a merge), so only what makes a
    # vote a vote is checked again. Only ``outcomes.transfer`` sets it.
    imported: bool = False
    # Token field -> new token, stored by the same atomic append as the change (a
    # rotation and its ``access`` change; a new room and its join token). Never in
    # the change, the log or the fingerprint: a retry is matched by its key alone.
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def entity_key(self) -> str:
        return entity_key(self.kind, self.entity_id)

    @property
    def change_type(self) -> str:
        if self.kind == PROGRESS:
            # Every report is streamed as "progress.updated" (the API contract), the first
            # one too: to a client, an action's progress is always there to update.
            return f"{PROGRESS}.updated"
        return f"{self.kind}.{PAST_TENSE[self.op]}"


def make_command(
    kind: str,
    op: str,
    entity_id: str,
    room: str | None,
    fields: Entity | None = None,
    version: int | None = None,
    key: str | None = None,
    moderated: bool = False,
    tokens: dict[str, str] | None = None,
    imported: bool = False,
) -> Command:
    """Build a command with its idempotency key and body fingerprint.

    Creates are keyed by the client's id. Updates are keyed by the version they
    were based on and their body, so resending the very same edit is a retry,
    while a different edit from the same version is a stale write (409).
    """
    body = dict(fields or {})
    fingerprint = hashlib.sha256(
        orjson.dumps({"op": op, "room": room, "fields": body, "version": version},
                     option=orjson.OPT_SORT_KEYS)
    ).hexdigest()[:32]
    if key is None:
        if op == "create":
            key = f"{kind}:{entity_id}"
        elif op == "update":
            key = f"{kind}:{entity_id}:v{version}:{fingerprint}"
        else:
            key = f"{kind}:{entity_id}:deleted"
    return Command(kind, op, entity_id, room, body, version, key, fingerprint, moderated,
                   imported, dict(tokens or {}))


def decide(command: Command, current: Entity | None, room_locked: bool, at: str) -> Entity:
    """The entity after ``command``, or a DomainError saying why not."""
    if command.kind in LOCKABLE and room_locked and not command.moderated:
        raise Locked("This room is closed: the moderator has locked it.")
    if command.op == "create":
        version = 1
        if current is not None:
            if command.kind == PROGRESS:
                # A first report (version 0) racing another: stale, like any other edit.
                raise StaleVersion("Someone reported on this action after you opened it.",
                                   current=public(current))
            if not (current.get("deleted") and command.kind in RECREATABLE):
                raise Conflict("This id is already used by another entry.")
            # Given again after a withdrawal: one entity, its history continues.
            version = current["version"] + 1
        entity: Entity = {"id": command.entity_id}
        if command.room is not None:
            entity["room"] = command.room
        entity.update(DEFAULTS.get(command.kind, {}))
        entity.update(command.fields)
        entity.update(version=version, created_at=at, updated_at=at)
        # A re-imported event keeps its original times. Only internal commands can carry
        # them: the API's and the pages' schemas refuse these fields.
        entity.update({k: command.fields[k] for k in IMPORTED_TIMES if k in command.fields})
        return with_history(entity) if command.kind == PROGRESS else entity
    if current is None or current.get("deleted"):
        raise NotFound("No such entry; it may have been deleted.")
    if command.room is not None and current.get("room") != command.room:
        raise NotFound("No such entry in this room.")
    if command.version is not None and command.version != current["version"]:
        raise StaleVersion(
            "Someone changed this entry after you opened it.", current=public(current)
        )
    entity = dict(current)
    if command.op == "delete":
        entity["deleted"] = True
    else:
        entity.update(command.fields)
    entity.update(version=current["version"] + 1, updated_at=at)
    return with_history(entity) if command.kind == PROGRESS else entity


def with_history(progress: Entity) -> Entity:
    """A progress report, its own state appended to its history: the outcomes carry the
    history from the board alone (and ``facilitation import`` brings it back)."""
    if "history" in progress and progress.get("version") == 1 and progress["history"]:
        return progress  # re-imported with its history: keep it as it was
    entry = {k: progress.get(k) for k in ("status", "progress", "note", "due", "by")}
    entry.update(version=progress["version"], at=progress["updated_at"])
    history = [*progress.get("history", []), entry][-HISTORY_MAX:]
    return {**progress, "history": history}


def public(entity: Entity) -> Entity:
    """The entity as the API shows it: internal bookkeeping removed."""
    return {k: v for k, v in entity.items() if k not in ("deleted", "kind")}


@dataclass(frozen=True)
class Change:
    seq: int
    room: str | None
    type: str
    key: str
    at: str
    data: Entity

    @property
    def kind(self) -> str:
        return self.type.split(".", 1)[0]

    def frame(self) -> dict[str, Any]:
        """The stream frame of the API contract."""
        return {"seq": self.seq, "room": self.room, "type": self.type, "data": public(self.data)}

    def to_json(self) -> bytes:
        return orjson.dumps(
            {"seq": self.seq, "room": self.room, "type": self.type, "key": self.key,
             "at": self.at, "data": self.data}
        )

    @classmethod
    def from_json(cls, raw: bytes | str) -> Change:
        d = orjson.loads(raw)
        return cls(d["seq"], d["room"], d["type"], d["key"], d["at"], d["data"])


@dataclass(frozen=True)
class Appended:
    change: Change
    replayed: bool  # True when the key was already stored: nothing new happened


# Keys a board keeps for its read models before they must rebuild instead (above).
JOURNAL_MAX = 100_000
# Changes a board remembers the keys of (``Board.changed_since``): a page further behind
# than this is sent whole again.
RECENT_MAX = 10_000


@dataclass
class Board:
    """The current state of one event: the fold of its log."""

    event_id: str
    seq: int = 0
    entities: dict[str, Entity] = field(default_factory=dict)
    # Read models that follow the board change by change instead of reading it whole
    # (plenary.py's duplicate and roles indexes) keep their state in ``derived`` and
    # read the keys applied since they last looked from ``journal``; None until one asks.
    journal: list[str] | None = field(default=None, compare=False, repr=False)
    derived: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # Per key, for the changes applied here (``changed_since``: what a page that shows seq
    # S lacks): the seq at which it last became live, of its last change, and of its last
    # deletion (0: none seen).
    touched: dict[str, tuple[int, int, int]] = field(default_factory=dict, compare=False,
                                                     repr=False)
    # The keys of the last changes applied here, in order, as (seq, key): at most twice
    # ``RECENT_MAX``; before ``tracked_from`` (the seq this board was built at, or the
    # first seq forgotten) nothing is known of what changed when.
    recent: list[tuple[int, str]] = field(default_factory=list, compare=False, repr=False)
    tracked_from: int = field(default=-1, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.tracked_from < 0:
            self.tracked_from = self.seq

    def copy(self) -> Board:
        return Board(self.event_id, self.seq, dict(self.entities))

    def __getstate__(self) -> dict[str, Any]:
        # Read models hold tasks and indexes of this process: a pickled board (an
        # export's helper process) rebuilds its own.
        return {"event_id": self.event_id, "seq": self.seq, "entities": self.entities,
                "journal": None, "derived": {}, "touched": {}, "recent": [],
                "tracked_from": self.seq}

    def apply(self, change: Change) -> None:
        if change.seq <= self.seq:
            return
        self.seq = change.seq
        key = entity_key(change.kind, change.data["id"])
        before = self.entities.get(key)
        self.entities[key] = change.data
        came, _, gone = self.touched.get(key, (0, 0, 0))
        if change.data.get("deleted"):
            gone = change.seq
        elif before is None or before.get("deleted"):
            came = change.seq
        self.touched[key] = (came, change.seq, gone)
        self.recent.append((change.seq, key))
        if len(self.recent) > 2 * RECENT_MAX:
            del self.recent[:RECENT_MAX]
            self.tracked_from = self.recent[0][0] - 1
        if self.journal is not None:
            self.journal.append(key)
            if len(self.journal) > JOURNAL_MAX:
                # Nobody has looked for a long time: they rebuild when they next do.
                self.journal = None
                self.derived.clear()

    def changed_since(self, seq: int) -> dict[str, tuple[int, int, int]] | None:
        """Keys changed after ``seq``: key -> (seq it last became live, of its last change,
        of its last deletion); None when this board cannot tell (built after ``seq``)."""
        if seq < self.tracked_from or seq > self.seq:
            return None
        start = bisect.bisect_right(self.recent, seq, key=lambda r: r[0])
        return {key: self.touched[key] for _, key in self.recent[start:]}

    def live(self, kind: str, room: str | None = None) -> list[Entity]:
        """Entities of a kind that are not deleted, in the order they were created."""
        found = [
            e for key, e in self.entities.items()
            if key.startswith(kind + ":") and not e.get("deleted")
            and (room is None or e.get("room") == room)
        ]
        found.sort(key=lambda e: (e["created_at"], e["id"]))
        return found

    @property
    def event(self) -> Entity:
        return self.entities.get(entity_key(EVENT, self.event_id), {})

    def room(self, room_id: str) -> Entity | None:
        for room in self.event.get("rooms", []):
            if room["id"] == room_id:
                return dict(room, locked=self.room_locked(room_id))
        return None

    def singleton(self, kind: str) -> Entity:
        """The plenary state, timer or message, with defaults before the first change."""
        found = self.entities.get(entity_key(kind, kind))
        if found is None or found.get("deleted"):
            return {"id": kind, **DEFAULTS.get(kind, {}), "version": 0}
        return found

    def room_locked(self, room: str | None) -> bool:
        if room is None:
            return False
        return bool(self.entities.get(entity_key(ROOM, room), {}).get("locked"))


# Token fields: an event's tokens are kept one per field (a SQLite row, a Redis hash
# field), so writing one never rewrites, or brings back, another.
ORGANISER_FIELD = "organiser"
PLENARY_FIELD = "plenary"


def join_field(room_id: str) -> str:
    """The token field of a room's join link."""
    return f"join:{room_id}"


def owner_field(owner_id: str) -> str:
    """The token field of a follow-up owner's link."""
    return f"owner:{owner_id}"


def access_id(token_field: str) -> str:
    """The ``access`` entity that announces a rotation of this token field
    ("plenary", "join-<room id>", "<kind>-<id>"): never the token itself."""
    return token_field.replace(":", "-", 1)


@dataclass
class Secrets:
    """An event's tokens, field -> token. Kept apart from the log: changes are
    streamed, tokens never. Fields: ``organiser``, ``plenary``, ``join:<room id>``,
    and any kind added later as ``<kind>:<id>`` (see ``store.Store``)."""

    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def organiser_token(self) -> str:
        return self.tokens.get(ORGANISER_FIELD, "")

    @property
    def plenary_token(self) -> str:
        return self.tokens.get(PLENARY_FIELD, "")

    @property
    def join_tokens(self) -> dict[str, str]:
        """Room id -> join token."""
        return {f[5:]: t for f, t in self.tokens.items() if f.startswith("join:")}

    @property
    def owner_tokens(self) -> dict[str, str]:
        """Follow-up: owner id -> that owner's token (facilitation/web/followup.py)."""
        return {f[6:]: t for f, t in self.tokens.items() if f.startswith("owner:")}

    def copy(self) -> Secrets:
        return Secrets(dict(self.tokens))

    @classmethod
    def from_legacy_json(cls, raw: bytes | str) -> Secrets:
        """The tokens as stores before one-field-per-token kept them: one JSON blob."""
        d = orjson.loads(raw)
        tokens = {ORGANISER_FIELD: d["organiser_token"], PLENARY_FIELD: d["plenary_token"]}
        tokens.update({join_field(room): token for room, token in d["join_tokens"].items()})
        tokens.update({owner_field(o): token for o, token in (d.get("owner_tokens") or {}).items()})
        return cls(tokens)

    @classmethod
    def generate(cls, room_ids: list[str]) -> Secrets:
        tokens = {ORGANISER_FIELD: new_token(), PLENARY_FIELD: new_token()}
        tokens.update({join_field(room): new_token() for room in room_ids})
        return cls(tokens)

"""What both baselines share: the event/room/token book and the pre-rendered frame.

The baselines answer the same requests as the app (`POST /api/events`, `POST .../items`,
`WS .../stream`) so the load generator drives all three with the same code and the same
messages. They keep nothing (no store), check nothing beyond "which room does this token
route to" (no auth), and render each change's frame once, exactly as the app's frame shape.
Each keeps its frames in an in-memory list per event, so that a socket that reconnects with
``?after=<seq>`` is sent what it missed (scenario g): the usual way's replay, no durability.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

ADMIN_TOKEN = "bench-admin-token"


@dataclass
class Scope:
    event: str
    room: str | None  # None: a plenary/organiser token that sees every room


@dataclass
class Book:
    tokens: dict[str, Scope] = field(default_factory=dict)
    seq: dict[str, int] = field(default_factory=dict)
    # event -> every frame so far: (seq, room, frame); seq n at index n - 1
    log: dict[str, list[tuple[int, str | None, bytes]]] = field(default_factory=dict)

    def create_event(self, body: dict[str, Any]) -> dict[str, Any]:
        eid = uuid.uuid4().hex[:12]
        self.seq[eid] = 0
        rooms = []
        for spec in body.get("rooms", []):
            rid = uuid.uuid4().hex[:12]
            token = secrets.token_urlsafe(24)
            self.tokens[token] = Scope(eid, rid)
            rooms.append({"id": rid, "name": spec.get("name", ""), "prompt": spec.get("prompt", ""),
                          "join_url": f"/e/{eid}/r/{rid}", "join_token": token})
        plenary, organiser = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        self.tokens[plenary] = Scope(eid, None)
        self.tokens[organiser] = Scope(eid, None)
        return {"id": eid, "title": body.get("title", ""), "goals": [], "rooms": rooms,
                "organiser_token": organiser, "plenary_token": plenary,
                "plenary_url": f"/e/{eid}/plenary"}

    def item_frame(self, event: str, room: str, body: dict[str, Any]) -> tuple[bytes, bytes]:
        """Return (the 201 answer, the stream frame), both already serialised, once."""
        now = datetime.now(UTC).isoformat()
        item = {"id": str(body["id"]), "room": room, "text": str(body["text"]),
                "owner": body.get("owner", ""), "due": body.get("due"), "goals": [],
                "status": "open", "version": 1, "created_at": now, "updated_at": now}
        self.seq[event] = self.seq.get(event, 0) + 1
        frame = orjson.dumps(
            {"seq": self.seq[event], "room": room, "type": "item.created", "data": item})
        self.log.setdefault(event, []).append((self.seq[event], room, frame))
        return orjson.dumps(item), frame

    def missed(self, scope: Scope, after: int) -> list[tuple[int, bytes]]:
        """The frames after ``after`` that a socket of ``scope`` may see."""
        frames = self.log.get(scope.event, [])[max(after, 0):]
        return [(seq, f) for seq, room, f in frames if scope.room is None or room == scope.room]


def room_items(book: Book, event: str, room: str) -> list[dict[str, Any]]:
    """The room's items, for its page (scenario h): decoded from the frames kept."""
    return [orjson.loads(f)["data"] for _, r, f in book.log.get(event, []) if r == room]


def after_of(query: str) -> int:
    """The ``after`` of a stream URL's query (0 when absent or malformed)."""
    for part in query.split("&"):
        name, _, value = part.partition("=")
        if name == "after" and value.isdigit():
            return int(value)
    return 0


def bearer(value: str | None) -> str | None:
    if value and value.lower().startswith("bearer "):
        return value[7:].strip()
    return None

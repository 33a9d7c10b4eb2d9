"""The app's parts wired together, and the one path every change takes.

Pages and API handlers both call ``Services.submit``: append to the store
(durable, idempotent, published). A refusal stays the domain's error and a store
that cannot answer is a ``domain.Unavailable``: the web layer alone turns them into
HTTP answers (``web/errors.py``).
"""

from __future__ import annotations

import logging
import sqlite3
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from redis.exceptions import RedisError

from facilitation import domain
from facilitation.access import ORGANISER, PLENARY, Access
from facilitation.broker import Broker, create_broker
from facilitation.domain import ACCESS, EVENT, Appended, Board, Command, Secrets, make_command
from facilitation.hub import Hubs
from facilitation.i18n import N_
from facilitation.limits import Limits
from facilitation.presence import MemoryPresence, Presence, create_presence
from facilitation.store import Store, StoreUnavailable, create_store

if TYPE_CHECKING:
    from facilitation.config import Settings
    from facilitation.render import Renderer
    from facilitation.schemas import EventIn

log = logging.getLogger("facilitation")
T = TypeVar("T")

# What a store that cannot answer raises: its own StoreUnavailable, the network's
# errors (Redis) and the disk's (SQLite's "database or disk is full", a read-only or
# failing file). Each becomes a domain.Unavailable here, and a 503 "nothing was saved"
# wherever one escapes these guards (app.py).
STORE_FAILURES: tuple[type[Exception], ...] = (
    StoreUnavailable, ConnectionError, TimeoutError, OSError, sqlite3.Error, RedisError)


@dataclass
class Services:
    settings: Settings
    store: Store
    broker: Broker
    renderer: Renderer
    hubs: Hubs
    limits: Limits
    presence: Presence = field(default_factory=MemoryPresence)

    @classmethod
    def build(cls, settings: Settings, renderer: Renderer) -> Services:
        broker = create_broker(settings)
        store = create_store(settings, broker)
        hubs = Hubs(store, broker, renderer.frame, beat=renderer.heartbeat_frame,
                    beat_seconds=settings.heartbeat_seconds)
        return cls(settings, store, broker, renderer, hubs, Limits(settings),
                   presence=create_presence(settings))

    async def start(self) -> None:
        await self.broker.connect()
        await self.store.connect()
        await self.presence.start()

    async def stop(self) -> None:
        await self.presence.stop()
        await self.hubs.close()
        await self.store.disconnect()
        await self.broker.disconnect()

    # -- reading ---------------------------------------------------------------------

    async def secrets(self, event_id: str) -> Secrets:
        secrets = await self._guard(self.store.secrets(event_id))
        if secrets is None:
            raise domain.NotFound("There is no such event.")
        return secrets

    async def board(self, event_id: str) -> Board:
        """The event's current board, read-only: the store's own, not a copy.

        Read it before the next await, or ask again after one; never change it.
        Work that keeps a board across awaits or hands it to a thread takes a
        ``snapshot`` instead."""
        return self._found(await self._guard(self.store.view(event_id)))

    async def snapshot(self, event_id: str) -> Board:
        """A copy of the event's board that stays as it is (exports, transfers)."""
        return self._found(await self._guard(self.store.board(event_id)))

    @staticmethod
    def _found(board: Board | None) -> Board:
        if board is None or not board.event:
            raise domain.NotFound("There is no such event.")
        return board

    def room_of(self, board: Board, room_id: str) -> dict[str, Any]:
        room = board.room(room_id)
        if room is None:
            raise domain.NotFound("There is no such room in this event.")
        return room

    # -- writing ---------------------------------------------------------------------

    async def create_event(self, body: EventIn) -> tuple[str, Secrets]:
        event_id = domain.new_id()
        rooms = [{"id": domain.new_id(), "name": r.name, "prompt": r.prompt} for r in body.rooms]
        goals = [{"id": f"g{i + 1}", "text": text} for i, text in enumerate(body.goals)]
        secrets = Secrets.generate([room["id"] for room in rooms])
        # The epoch names this event's log in this store. A client that comes
        # back with another epoch was looking at a store that has since been
        # reset: it reloads rather than replaying onto a wrong board.
        command = make_command(
            EVENT, "create", event_id, None,
            {"title": body.title, "rooms": rooms, "goals": goals, "language": body.language,
             "epoch": domain.new_id()},
        )
        await self._guard(self.store.create_event(event_id, secrets, command))
        return event_id, secrets

    async def rotate(self, event_id: str, target: str) -> Secrets:
        """Give the plenary (``target="plenary"``) or a room (its id) a fresh token."""
        if target == "plenary":
            await self.rotate_token(event_id, domain.PLENARY_FIELD, None)
        else:
            await self.rotate_token(event_id, domain.join_field(target), target)
        return await self.secrets(event_id)

    async def rotate_token(self, event_id: str, token_field: str, room: str | None,
                           *, revoke: bool = False, withdrawn: bool = False) -> str:
        """Replace one token (or, ``revoke``, take it away), whole or nothing: the new
        token and the ``access`` change that announces it (never the token, only that
        it changed) are one atomic append. Every worker's hub sees that change in log
        order and closes the sockets the old token opened; no other token is read or
        written. ``withdrawn`` (with ``revoke``): the organiser took the link away and
        none is given again until they ask (``"revoked": true`` on the access entity)."""
        entity_id = domain.access_id(token_field)
        token = "" if revoke else domain.new_token()
        for _attempt in range(8):
            # The key is streamed with the change: never the token in it.
            key = f"{ACCESS}:{entity_id}:{domain.new_id()}"
            board = await self.board(event_id)
            current = board.entities.get(domain.entity_key(ACCESS, entity_id))
            rotation = int(current.get("rotation", 0)) + 1 if current else 1
            fields: dict[str, Any] = {"target": entity_id, "rotation": rotation}
            if withdrawn or (current and current.get("revoked")):
                fields["revoked"] = revoke and withdrawn
            command = make_command(
                ACCESS, "update" if current else "create", entity_id, room, fields,
                key=key, tokens={token_field: token},
            )
            try:
                await self.submit(event_id, command)
                return token
            except domain.Conflict:
                continue  # another rotation created it first: update it instead
        raise domain.Conflict("This link was replaced many times at once; try again.")

    async def submit(self, event_id: str, command: Command) -> Appended:
        """Append one command; the caller has already checked the caller's access.

        A refusal is the domain's own error; a store that cannot be reached is
        ``domain.Unavailable`` (nothing was saved)."""
        try:
            return await self.store.append(event_id, command)
        except STORE_FAILURES as error:
            log.warning("append to event %s failed: %s", event_id, error)
            raise domain.Unavailable() from None

    async def upsert(
        self, event_id: str, kind: str, entity_id: str, room: str | None,
        fields: dict[str, Any] | None, *, delete: bool = False, moderated: bool = False,
    ) -> Appended | None:
        """Set moderator state whatever it was: create, re-create, update or delete.

        Each command is keyed by the version it was based on, so a retry of the same
        request is stored once while the same setting made again later (lock, unlock,
        lock) is a new change. A concurrent writer makes the version stale; read
        again and retry. Deleting what is not there is None (nothing to do).
        """
        for _ in range(8):
            board = await self.board(event_id)
            current = board.entities.get(domain.entity_key(kind, entity_id))
            gone = current is None or bool(current.get("deleted"))
            if delete:
                if gone:
                    return None
                assert current is not None
                version = current["version"]
                command = make_command(kind, "delete", entity_id, room, version=version,
                                       key=f"{kind}:{entity_id}:v{version}:deleted",
                                       moderated=moderated)
            elif current is None:
                command = make_command(kind, "create", entity_id, room, fields,
                                       moderated=moderated)
            elif gone:
                version = current["version"]
                command = make_command(kind, "create", entity_id, room, fields,
                                       key=f"{kind}:{entity_id}:v{version}:again",
                                       moderated=moderated)
            else:
                command = make_command(kind, "update", entity_id, room, fields,
                                       version=current["version"], moderated=moderated)
            try:
                return await self.submit(event_id, command)
            except domain.Conflict:
                continue  # someone else changed it in between: decide on the fresh state
        raise domain.Conflict("This was changed by someone else many times at once; try again.")

    async def _guard(self, awaitable: Awaitable[T]) -> T:
        try:
            return await awaitable
        except STORE_FAILURES as error:
            log.warning("store unavailable: %s", error)
            raise domain.Unavailable(
                N_("The server cannot reach its store right now. Try again shortly.")
            ) from None

    # -- shaping ---------------------------------------------------------------------

    def event_json(self, board: Board, secrets: Secrets, access: Access | None) -> dict[str, Any]:
        """The API's event object: tokens only those the caller holds."""
        event = board.event
        organiser = access is None or access.role == ORGANISER
        rooms = []
        for room in event["rooms"]:
            token = secrets.join_tokens.get(room["id"], "")
            holds = organiser or (access is not None and access.room == room["id"])
            shown: dict[str, Any] = {
                "id": room["id"], "name": room["name"], "prompt": room["prompt"],
                "locked": board.room_locked(room["id"]),
                "join_url": self.join_url(board.event_id, room["id"], token if holds else None),
            }
            if holds:
                shown["join_token"] = token
            rooms.append(shown)
        out: dict[str, Any] = {
            "id": board.event_id, "title": event["title"], "goals": event["goals"],
            "language": event.get("language", "en"), "rooms": rooms, "seq": board.seq,
            "epoch": event.get("epoch", ""),
        }
        sees_plenary = organiser or (access is not None and access.role == PLENARY)
        out["plenary_url"] = self.page_url(
            board.event_id, "plenary", secrets.plenary_token if sees_plenary else None
        )
        if sees_plenary:
            out["plenary_token"] = secrets.plenary_token
        if organiser:
            out["organiser_token"] = secrets.organiser_token
            out["moderator_url"] = self.page_url(board.event_id, "moderate", secrets.organiser_token)
        return out

    def join_url(self, event_id: str, room_id: str, token: str | None) -> str:
        url = f"{self.settings.public_url}/e/{event_id}/r/{room_id}"
        return f"{url}?t={token}" if token else url

    def page_url(self, event_id: str, page: str, token: str | None) -> str:
        url = f"{self.settings.public_url}/e/{event_id}/{page}"
        return f"{url}?t={token}" if token else url


def client_id(raw: str | None) -> str:
    """A client-generated id, checked to be a UUID (the API contract's idempotency key)."""
    try:
        return str(uuid.UUID(str(raw)))
    except ValueError:
        raise domain.Invalid(N_("id: must be a UUID")) from None

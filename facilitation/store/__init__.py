"""The Store protocol: a durable, idempotent, per-event log of changes.

``append`` is the only way anything changes. It decides the command with
``domain.decide``, stores the change under the next event-wide sequence number,
and publishes it on the event's broker channel, in that order: nothing is
published that was not stored, and nothing is acknowledged before it is durable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from facilitation.domain import Appended, Board, Change, Command, Secrets, Unavailable

if TYPE_CHECKING:
    from facilitation.broker import Broker
    from facilitation.config import Settings


class StoreUnavailable(Unavailable):
    """The store cannot be reached; the write was not stored.

    ``str()`` says why, for the log; ``message`` is what a person is told, the same
    for every cause (``domain.NOT_SAVED``)."""

    def __init__(self, detail: str) -> None:
        super().__init__()
        self.args = (detail,)


def channel(event_id: str) -> str:
    return f"facilitation:{{{event_id}}}:changes"


class Store(Protocol):
    name: str

    async def connect(self) -> None: ...

    async def disconnect(self) -> None: ...

    async def ping(self) -> None:
        """Raise StoreUnavailable when the store cannot answer."""

    async def create_event(self, event_id: str, secrets: Secrets, command: Command) -> Change:
        """Store the event's tokens and its first change (``event.created``, seq 1)."""

    async def event_ids(self) -> list[str]: ...

    async def secrets(self, event_id: str) -> Secrets | None:
        """Every token of the event, field -> token; None if there is no such event.

        Tokens are stored one per field (a SQLite row, a field of a Redis hash), so a
        write of one never rewrites, or brings back, another. To add a kind of token
        (a link for each owner, say): name its field ``<kind>:<id>`` (never an existing
        prefix: ``organiser``, ``plenary``, ``join:``); hand it out once with
        ``add_tokens`` (first writer wins: asking again gives the same token); rotate
        it only with ``append`` of an ``access`` change (entity ``domain.access_id
        (field)``) whose command carries ``tokens={field: new}``, so the new token and
        the change that closes the old one's sockets on every worker are stored
        together or not at all. Never read, change and write tokens back whole."""

    async def add_tokens(self, event_id: str, tokens: dict[str, str]) -> Secrets:
        """Store each field that has no token yet (an existing one is kept, never
        replaced), atomically; the event's tokens after. NotFound without the event."""

    async def append(self, event_id: str, command: Command) -> Appended:
        """Decide ``command`` (``rules.judge``: the entity and every rule that spans
        entities), store the change, its index writes and ``command.tokens``, and
        publish it: one atomic step. A retry of a stored key is answered, not redone."""

    async def board(self, event_id: str) -> Board | None:
        """A consistent snapshot of the event's current state, or None if unknown."""

    async def view(self, event_id: str) -> Board | None:
        """The store's own current board, not a copy: read it, never change it, and
        do not keep it across an await (it moves on with the next change). Every
        request reads the board; copying it would cost O(event) each time."""

    async def changes_after(self, event_id: str, after: int, limit: int = 1000) -> list[Change]:
        """Stored changes with seq > after, in order, at most ``limit``."""


def create_store(settings: Settings, broker: Broker) -> Store:
    """Chosen by URL, like encode/broadcaster: no Redis URL means the embedded store."""
    if settings.redis_url:
        from facilitation.store.redis import RedisStore

        return RedisStore(settings.redis_url)
    from facilitation.store.sqlite import SQLiteStore

    return SQLiteStore(settings.database_path, broker)

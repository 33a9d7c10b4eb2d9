"""The Store protocol: a durable, idempotent, per-event log of changes.

``append`` is the only way anything changes. It decides the command with
``domain.decide``, stores the change under the next event-wide sequence number,
and publishes it on the event's broker channel, in that order: nothing is
published that was not stored, and nothing is acknowledged before it is durable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from facilitation.domain import Appended, Board, Change, Command, Secrets

if TYPE_CHECKING:
    from facilitation.broker import Broker
    from facilitation.config import Settings


class StoreUnavailable(RuntimeError):
    """The store cannot be reached; the write was not stored."""


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

    async def secrets(self, event_id: str) -> Secrets | None: ...

    async def save_secrets(self, event_id: str, secrets: Secrets) -> None: ...

    async def append(self, event_id: str, command: Command) -> Appended: ...

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

"""Who is in which room right now, from the open room sockets.

Presence is not part of the event's log: it is how many people have a room's page
open at this moment. A room socket ``enter``s when it opens and ``leave``s when it
closes (a closed tab closes its socket within the heartbeat), and a person counts
once per room however many tabs they have open there.

``MemoryPresence`` serves one worker. ``RedisPresence`` shares the counts between
workers: each worker keeps its own hash per event, refreshed with a short TTL, so
the sockets of a worker that dies stop counting within ``ttl`` seconds, while a
tab closed on a live worker stops counting at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import Counter
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from facilitation.config import Settings

log = logging.getLogger("facilitation.presence")


class Presence(Protocol):
    name: str
    # The counts each event last read: what a push renders between two reads.
    last: dict[str, dict[str, int]]

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def enter(self, event_id: str, room: str, person: str) -> None: ...

    async def leave(self, event_id: str, room: str, person: str) -> None: ...

    async def counts(self, event_id: str) -> dict[str, int]:
        """People present per room id (rooms with nobody are left out)."""


def _tally(keys: list[str]) -> dict[str, int]:
    """Distinct people per room from ``room|person`` keys."""
    people: dict[str, set[str]] = {}
    for key in keys:
        room, _, person = key.partition("|")
        people.setdefault(room, set()).add(person)
    return {room: len(found) for room, found in people.items()}


class MemoryPresence:
    """This worker's open room sockets."""

    name = "memory"

    def __init__(self) -> None:
        # (event, "room|person") -> open sockets
        self._open: Counter[tuple[str, str]] = Counter()
        self.last: dict[str, dict[str, int]] = {}

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def enter(self, event_id: str, room: str, person: str) -> None:
        self._open[(event_id, f"{room}|{person}")] += 1

    async def leave(self, event_id: str, room: str, person: str) -> None:
        key = (event_id, f"{room}|{person}")
        self._open[key] -= 1
        if self._open[key] <= 0:
            del self._open[key]

    def local(self, event_id: str) -> dict[str, int]:
        return {key: n for (event, key), n in self._open.items() if event == event_id}

    async def counts(self, event_id: str) -> dict[str, int]:
        self.last[event_id] = _tally(list(self.local(event_id)))
        return self.last[event_id]


class RedisPresence:
    """Counts shared through Redis: one hash per (event, worker) with a TTL.

    Keys: ``facilitation:{event}:presence:<worker>`` (hash ``room|person`` -> sockets)
    and ``facilitation:{event}:presence-workers`` (the workers that wrote one). A
    worker rewrites its hash on every enter/leave and refreshes its TTL every
    ``ttl / 3`` seconds while it has sockets on the event.
    """

    name = "redis"

    def __init__(self, url: str, ttl: float = 6.0, prefix: str = "facilitation") -> None:
        self.url = url
        self.ttl = ttl
        self.prefix = prefix
        self.worker = secrets.token_hex(6)
        self.mine = MemoryPresence()
        self._redis: Any = None
        self._refresher: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.last: dict[str, dict[str, int]] = {}

    def _key(self, event_id: str, worker: str) -> str:
        return f"{self.prefix}:{{{event_id}}}:presence:{worker}"

    def _workers(self, event_id: str) -> str:
        return f"{self.prefix}:{{{event_id}}}:presence-workers"

    async def start(self) -> None:
        import redis.asyncio as redis

        self._redis = redis.from_url(self.url, decode_responses=True)
        self._refresher = asyncio.create_task(self._refresh_loop(), name="presence-refresh")

    async def stop(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._refresher
        if self._redis is not None:
            events = {event for event, _ in self.mine._open}
            with contextlib.suppress(Exception):
                for event_id in events:
                    await self._redis.delete(self._key(event_id, self.worker))
            await self._redis.aclose()

    async def enter(self, event_id: str, room: str, person: str) -> None:
        await self.mine.enter(event_id, room, person)
        await self._write(event_id)

    async def leave(self, event_id: str, room: str, person: str) -> None:
        await self.mine.leave(event_id, room, person)
        await self._write(event_id)

    async def _write(self, event_id: str) -> None:
        """Replace this worker's hash for the event with what it holds now."""
        local = self.mine.local(event_id)
        key = self._key(event_id, self.worker)
        try:
            async with self._lock, self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(key)
                if local:
                    pipe.hset(key, mapping=local)
                    pipe.pexpire(key, int(self.ttl * 1000))
                    pipe.sadd(self._workers(event_id), self.worker)
                    pipe.pexpire(self._workers(event_id), int(self.ttl * 1000 * 100))
                await pipe.execute()
        except Exception as error:  # noqa: BLE001 - presence must never break a socket
            log.warning("presence write for event %s failed: %s", event_id, error)

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
            for event_id in {event for event, _ in self.mine._open}:
                await self._write(event_id)

    async def counts(self, event_id: str) -> dict[str, int]:
        try:
            workers = await self._redis.smembers(self._workers(event_id))
            keys: list[str] = []
            async with self._redis.pipeline(transaction=False) as pipe:
                for worker in workers:
                    pipe.hkeys(self._key(event_id, worker))
                answers = await pipe.execute()
            for worker, found in zip(workers, answers, strict=True):
                if found:
                    keys.extend(found)
                elif worker != self.worker:
                    # Its hash expired: that worker is gone (or has nobody here).
                    await self._redis.srem(self._workers(event_id), worker)
            self.last[event_id] = _tally(keys)
            return self.last[event_id]
        except Exception as error:  # noqa: BLE001
            log.warning("presence read for event %s failed: %s", event_id, error)
            return await self.mine.counts(event_id)


def create_presence(settings: Settings) -> Presence:
    if settings.redis_url:
        return RedisPresence(settings.redis_url)
    return MemoryPresence()

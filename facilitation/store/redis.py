"""The Redis store: every worker on every machine shares one event through Redis.

Layout, per event ``E`` (every key carries the Redis Cluster hash tag ``{E}``, so
one event's keys live in one slot and the scripts below touch nothing else):

- ``facilitation:{E}:seq``       the event-wide sequence (INCR)
- ``facilitation:{E}:log``       LIST of change JSON; the change with seq ``n`` is at index ``n-1``
- ``facilitation:{E}:entities``  HASH entity key -> current entity JSON
- ``facilitation:{E}:keys``      HASH idempotency key -> ``"<seq>:<fingerprint>"``
- ``facilitation:{E}:locks``     HASH room id -> ``"1"`` (locked) or ``"0"``
- ``facilitation:{E}:secrets``   the event's tokens (JSON), never in the log

and one global sorted set, ``facilitation:events`` (event ids by creation time),
the single key outside a hash tag: only ``create_event`` touches it, in a command
of its own, never inside a script.

An append reads the entity and its room's lock, runs ``domain.decide`` in
Python (both stores run the very same decision), and then one Lua script, atomic
in Redis, re-checks what the decision was based on (idempotency key, entity,
lock), assigns the next seq, stores the change and the new state, and publishes
the change. A create skips the read: it is decided against "no such entity, room
open", which the script checks like any other read. Because storing and
publishing are one script, nothing is published that was not stored and nothing
stored goes unpublished (pub/sub itself is at-most-once; subscribers fill gaps
from the log). The script builds the change JSON by concatenating the seq onto
the JSON Python encoded: Lua never decodes or re-encodes user content (cjson
would, for one, turn ``[]`` into ``{}``).

Durability depends on Redis's persistence settings; see the README's section
"Deployment with Redis and docker compose".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

import orjson
from redis import exceptions as redis_errors

from facilitation.domain import (
    LOCKABLE,
    ROOM,
    Appended,
    Board,
    Change,
    Command,
    Conflict,
    NotFound,
    Secrets,
    StaleVersion,
    decide,
    now_iso,
    public,
)
from facilitation.redisclient import cancelled_check, make_client
from facilitation.store import StoreUnavailable, channel

log = logging.getLogger("facilitation.store.redis")
T = TypeVar("T")

EVENTS = "facilitation:events"

# How often an append re-reads and re-decides when another writer changed the same
# entity (or its room's lock) between the read and the script. Only writes to
# one entity race here; after this many losses the writer is told to reload.
RETRIES = 8

# A cached board this many changes behind is read whole instead of caught up.
CATCH_UP = 500

APPEND = """
-- KEYS: seq, log, entities, keys, locks, secrets
-- ARGV: idempotency key, fingerprint, entity key, entity as read ('' = absent),
--       room whose lock to check ('' = none), lock as read, change JSON after its seq,
--       new entity JSON, room whose lock to set ('' = none), new lock, channel
if redis.call('EXISTS', KEYS[6]) == 0 then
  return {'missing'}
end
local stored = redis.call('HGET', KEYS[4], ARGV[1])
if stored then
  local sep = string.find(stored, ':', 1, true)
  if string.sub(stored, sep + 1) ~= ARGV[2] then
    return {'conflict'}
  end
  return {'replay', redis.call('LINDEX', KEYS[2], tonumber(string.sub(stored, 1, sep - 1)) - 1)}
end
if (redis.call('HGET', KEYS[3], ARGV[3]) or '') ~= ARGV[4] then
  return {'moved'}
end
if ARGV[5] ~= '' and (redis.call('HGET', KEYS[5], ARGV[5]) or '0') ~= ARGV[6] then
  return {'moved'}
end
local seq = redis.call('INCR', KEYS[1])
local change = '{"seq":' .. seq .. ARGV[7]
redis.call('RPUSH', KEYS[2], change)
redis.call('HSET', KEYS[3], ARGV[3], ARGV[8])
redis.call('HSET', KEYS[4], ARGV[1], seq .. ':' .. ARGV[2])
if ARGV[9] ~= '' then
  redis.call('HSET', KEYS[5], ARGV[9], ARGV[10])
end
redis.call('PUBLISH', ARGV[11], change)
return {'stored', change}
"""

CREATE = """
-- KEYS: seq, log, entities, keys, secrets
-- ARGV: secrets JSON, idempotency key, fingerprint, entity key, change JSON after
--       its seq, entity JSON, channel
if redis.call('EXISTS', KEYS[5]) == 1 then
  return false
end
redis.call('SET', KEYS[5], ARGV[1])
local seq = redis.call('INCR', KEYS[1])
local change = '{"seq":' .. seq .. ARGV[5]
redis.call('RPUSH', KEYS[2], change)
redis.call('HSET', KEYS[3], ARGV[4], ARGV[6])
redis.call('HSET', KEYS[4], ARGV[2], seq .. ':' .. ARGV[3])
redis.call('PUBLISH', ARGV[7], change)
return change
"""

# Errors that mean "Redis cannot answer now", as opposed to a bug in a command.
UNREACHABLE = (
    redis_errors.ConnectionError,  # includes BusyLoadingError: Redis is loading its AOF
    redis_errors.TimeoutError,
    redis_errors.ReadOnlyError,  # a replica that was just demoted
    OSError,
)


def key(event_id: str, name: str) -> str:
    return f"facilitation:{{{event_id}}}:{name}"


def _tail(command: Command, at: str, data: dict[str, Any]) -> bytes:
    """The change's JSON without its opening ``{"seq":N``: the script puts the seq in."""
    body = orjson.dumps(
        {"room": command.room, "type": command.change_type, "key": command.key, "at": at,
         "data": data}
    )
    return b"," + body[1:]


class RedisStore:
    name = "redis"

    def __init__(self, url: str) -> None:
        self.url = url
        self.redis = make_client(url)
        self._append = self.redis.register_script(APPEND)
        self._create = self.redis.register_script(CREATE)
        # Each event's board as this process last saw it: every page and API call
        # reads the board, and re-reading all entities each time would cost O(event).
        self._boards: dict[str, Board] = {}

    async def _call(self, awaitable: Awaitable[T]) -> T:
        try:
            result = await awaitable
        except UNREACHABLE as error:
            cancelled_check()
            raise StoreUnavailable(f"Redis is unreachable: {error}") from error
        except redis_errors.ResponseError as error:
            cancelled_check()
            if str(error).startswith(("MISCONF", "LOADING", "MASTERDOWN", "NOREPLICAS")):
                # Redis refuses writes it cannot persist or replicate: not stored.
                raise StoreUnavailable(f"Redis refused the write: {error}") from error
            raise
        cancelled_check()
        return result

    # -- lifecycle -------------------------------------------------------------------

    async def connect(self) -> None:
        # Nothing to open: connections are made on first use, so a server can start
        # while Redis is still down and serve (503s, then real answers) once it is up.
        pass

    async def disconnect(self) -> None:
        await self.redis.aclose()
        await self.redis.connection_pool.disconnect()

    async def ping(self) -> None:
        await self._call(self.redis.ping())

    # -- reads -----------------------------------------------------------------------

    async def event_ids(self) -> list[str]:
        ids: list[bytes] = await self._call(self.redis.zrange(EVENTS, 0, -1))  # type: ignore[arg-type]
        return [i.decode() for i in ids]

    async def secrets(self, event_id: str) -> Secrets | None:
        raw = await self._call(self.redis.get(key(event_id, "secrets")))
        return Secrets.from_json(raw) if raw else None

    async def save_secrets(self, event_id: str, secrets: Secrets) -> None:
        await self._call(self.redis.set(key(event_id, "secrets"), secrets.to_json(), xx=True))

    async def board(self, event_id: str) -> Board | None:
        board = await self.view(event_id)
        return None if board is None else board.copy()

    async def view(self, event_id: str) -> Board | None:
        """This process's copy of the event's board brought up to date with the
        changes logged since (one round trip, the size of what changed), or read
        whole when there is no copy yet, it is far behind, or Redis lost changes."""
        cached = self._boards.get(event_id)
        if cached is not None:
            seq, missed = await self._call(self._since(event_id, cached.seq))
            if seq is not None and int(seq) >= cached.seq and len(missed) < CATCH_UP:
                for raw in missed:
                    # In order, with no await between: concurrent callers apply the same
                    # changes at most once (Board.apply skips what it already has).
                    cached.apply(Change.from_json(raw))
                return cached
        board = await self._call(self._whole(event_id))
        if board is None:
            self._boards.pop(event_id, None)
            return None
        # Another caller may have read it meanwhile: keep whichever is further on.
        cached = self._boards.get(event_id)
        if cached is None or cached.seq < board.seq:
            self._boards[event_id] = cached = board
        return cached

    async def _since(self, event_id: str, seq: int) -> list[Any]:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(key(event_id, "seq"))
            pipe.lrange(key(event_id, "log"), seq, seq + CATCH_UP - 1)
            return await pipe.execute()

    async def _whole(self, event_id: str) -> Board | None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(key(event_id, "seq"))
            pipe.hgetall(key(event_id, "entities"))
            seq, entities = await pipe.execute()
        if seq is None:
            return None
        return Board(
            event_id, int(seq), {k.decode(): orjson.loads(v) for k, v in entities.items()}
        )

    async def changes_after(self, event_id: str, after: int, limit: int = 1000) -> list[Change]:
        if limit <= 0:
            return []
        start = max(after, 0)
        raw = await self._call(self.redis.lrange(key(event_id, "log"), start, start + limit - 1))
        return [Change.from_json(r) for r in raw]

    # -- writes ----------------------------------------------------------------------

    async def create_event(self, event_id: str, secrets: Secrets, command: Command) -> Change:
        at = now_iso()
        data = decide(command, None, False, at)
        # Listed first: an id listed whose script then failed is harmless (it has no
        # data), while an event stored but never listed would be lost to event_ids().
        await self._call(self.redis.zadd(EVENTS, {event_id: time.time()}))
        raw = await self._call(self._create(
            keys=[key(event_id, n) for n in ("seq", "log", "entities", "keys", "secrets")],
            args=[secrets.to_json(), command.key, command.fingerprint, command.entity_key,
                  _tail(command, at, data), orjson.dumps(data), channel(event_id)],
        ))
        if raw is None:
            raise Conflict("This event id is already used.")
        return Change.from_json(raw)

    async def append(self, event_id: str, command: Command) -> Appended:
        keys = [key(event_id, n) for n in ("seq", "log", "entities", "keys", "locks", "secrets")]
        lock_room = command.room if command.kind in LOCKABLE and command.room else ""
        if command.op == "create":
            # Most appends create: a new entity in an open room. Expecting exactly
            # that needs no read first (one round trip instead of two); the script
            # answers "moved" when the guess was wrong, and the loop below reads.
            appended = await self._store(event_id, command, keys, None, lock_room, None)
            if appended is not None:
                return appended
        current_raw: bytes | None = None
        for _ in range(RETRIES):
            exists, stored, current_raw, lock = await self._call(
                self._read(event_id, command, lock_room))
            if not exists:
                raise NotFound("No such event.")
            if stored is not None:
                return await self._replay(event_id, command, stored)
            appended = await self._store(event_id, command, keys, current_raw, lock_room, lock)
            if appended is not None:
                return appended
            # None: someone changed the entity or the lock since we read it; decide again.
        raise StaleVersion(
            "This entry is being changed by many people at once; reload and try again.",
            current=public(orjson.loads(current_raw)) if current_raw is not None else None,
        )

    async def _store(self, event_id: str, command: Command, keys: list[str],
                     current_raw: bytes | None, lock_room: str,
                     lock: bytes | None) -> Appended | None:
        """Decide against the entity and lock as read, then store atomically if
        they are still so; None when they have changed meanwhile."""
        current = orjson.loads(current_raw) if current_raw is not None else None
        at = now_iso()
        data = decide(command, current, lock == b"1", at)
        set_room = command.entity_id if command.kind == ROOM else ""
        answer = await self._call(self._append(keys=keys, args=[
            command.key, command.fingerprint, command.entity_key,
            current_raw or b"", lock_room, lock or b"0",
            _tail(command, at, data), orjson.dumps(data),
            set_room, b"1" if data.get("locked") else b"0", channel(event_id),
        ]))
        outcome = answer[0]
        if outcome == b"stored":
            return Appended(Change.from_json(answer[1]), False)
        if outcome == b"replay":
            return Appended(Change.from_json(answer[1]), True)
        if outcome == b"conflict":
            raise Conflict("This id was already used with different content.")
        if outcome == b"missing":
            raise NotFound("No such event.")
        return None  # b"moved"

    async def _read(self, event_id: str, command: Command, lock_room: str) -> list[Any]:
        """Everything a decision needs, read atomically."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.exists(key(event_id, "secrets"))
            pipe.hget(key(event_id, "keys"), command.key)
            pipe.hget(key(event_id, "entities"), command.entity_key)
            if lock_room:
                pipe.hget(key(event_id, "locks"), lock_room)
            result = await pipe.execute()
        return result if lock_room else [*result, None]

    async def _replay(self, event_id: str, command: Command, stored: bytes) -> Appended:
        seq, _, fingerprint = stored.decode().partition(":")
        if fingerprint != command.fingerprint:
            raise Conflict("This id was already used with different content.")
        raw = await self._call(self.redis.lindex(key(event_id, "log"), int(seq) - 1))
        if raw is None:
            raise StoreUnavailable("The log lacks a change its idempotency key points to.")
        return Appended(Change.from_json(raw), True)

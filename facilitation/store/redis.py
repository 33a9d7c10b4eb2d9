"""The Redis store: every worker on every machine shares one event through Redis.

Layout, per event ``E`` (every key carries the Redis Cluster hash tag ``{E}``, so
one event's keys live in one slot and the scripts touch nothing else):

- ``facilitation:{E}:seq``       the event-wide sequence (INCR); exists iff the event does
- ``facilitation:{E}:log``       LIST of change JSON; the change with seq ``n`` is at index ``n-1``
- ``facilitation:{E}:entities``  HASH entity key -> current entity JSON
- ``facilitation:{E}:keys``      HASH idempotency key -> ``"<seq>:<fingerprint>"``
- ``facilitation:{E}:tokens``    HASH token field -> token, one field per token, never in the log
- ``facilitation:{E}:locks``, ``:ballots``, ``:claims``, ``:occupancy``, ``:rooms``
                                 HASHes: the indexes the cross-entity rules read (rules.py)
- ``facilitation:{E}:indexed``   set once those indexes exist (events stored before
                                 them get them built on their next append)

and one global sorted set, ``facilitation:events`` (event ids by creation time),
the single key outside a hash tag: only ``create_event`` touches it, in a command
of its own, never inside a script.

An append decides in Python with ``rules.judge`` (both stores run the very same
decision) against the values it reads from Redis, and then one Lua script,
atomic in Redis, checks that every value the decision read is unchanged (the
entity, its room's lock, a voter's ballot count, an item's claim, a room's
occupancy...), assigns the next seq, stores the change, the indexes and any
tokens, and publishes the change. When a value moved meanwhile, the append
reads again and decides again. A create skips the first read: it is decided
against what is most likely (no such entity, the room open and there) and the
script checks that like any other read. Because storing and publishing are one
script, nothing is published that was not stored and nothing stored goes
unpublished (pub/sub itself is at-most-once; subscribers fill gaps from the log).

Durability depends on Redis's persistence settings; see the README's section
"Deployment with Redis and docker compose".
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

import orjson
from redis import exceptions as redis_errors

from facilitation.domain import (
    EVENT,
    ITEM,
    LOCKABLE,
    ROLE,
    Appended,
    Board,
    Change,
    Command,
    Conflict,
    DomainError,
    NotFound,
    Secrets,
    StaleVersion,
    decide,
    entity_key,
    now_iso,
    public,
)
from facilitation.redisclient import cancelled_check, make_client
from facilitation.rules import LOCKS, ROOMS, Indexes, index_writes, judge
from facilitation.store import StoreUnavailable
from facilitation.store.redis_copies import Copies, secrets_of, whole
from facilitation.store.redis_scripts import (
    ADD_TOKENS,
    APPEND,
    CREATE,
    KEY_NAMES,
    MIGRATE_TOKENS,
    POSITION,
    REINDEX,
    Field,
    Reads,
    key,
    script_args,
)

log = logging.getLogger("facilitation.store.redis")
T = TypeVar("T")

EVENTS = "facilitation:events"
# What /healthz writes to prove Redis stores writes (outside any event: no script uses it).
HEALTH = "facilitation:health"
# /healthz writes to Redis at most this often (seconds) while writes succeed.
PROBE_SECONDS = 5.0

# How often an append re-reads and re-decides when another writer changed the same
# entity (or its room's lock) between the read and the script. Only writes to
# one entity race here; after this many losses the writer is told to reload.
RETRIES = 8

# Errors that mean "Redis cannot answer now", as opposed to a bug in a command.
UNREACHABLE = (
    redis_errors.ConnectionError,  # includes BusyLoadingError: Redis is loading its AOF
    redis_errors.TimeoutError,
    redis_errors.ReadOnlyError,  # a replica that was just demoted
    OSError,
)


def keys_of(event_id: str) -> list[str]:
    """Every script's KEYS, in ``KEY_NAMES`` order."""
    return [key(event_id, name) for name in KEY_NAMES]


class RedisStore:
    name = "redis"

    def __init__(self, url: str) -> None:
        self.url = url
        self.redis = make_client(url)
        self._append = self.redis.register_script(APPEND)
        self._create = self.redis.register_script(CREATE)
        self._add_tokens = self.redis.register_script(ADD_TOKENS)
        self._migrate = self.redis.register_script(MIGRATE_TOKENS)
        self._reindex_script = self.redis.register_script(REINDEX)
        # Each event's board and tokens as this process last saw them.
        self.copies = Copies(self.redis, self._call)
        self._write_failed = False
        self._probed = -PROBE_SECONDS

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
        """Raise StoreUnavailable unless Redis would store a change now: a real write
        every few seconds (and on every ask after a refused one), a PING between.
        A Redis that answers PING but refuses writes (its disk full: MISCONF; too few
        replicas: NOREPLICAS; a demoted replica) counts as unavailable."""
        loop = asyncio.get_running_loop()
        if not self._write_failed and loop.time() - self._probed < PROBE_SECONDS:
            await self._call(self.redis.ping())
            return
        try:
            await self._call(self.redis.set(HEALTH, now_iso(), ex=60))
        except (StoreUnavailable, redis_errors.ResponseError):
            self._write_failed = True
            raise
        self._write_failed = False
        self._probed = loop.time()

    # -- reads -----------------------------------------------------------------------

    async def event_ids(self) -> list[str]:
        ids: list[bytes] = await self._call(self.redis.zrange(EVENTS, 0, -1))  # type: ignore[arg-type]
        return [i.decode() for i in ids]

    async def secrets(self, event_id: str) -> Secrets | None:
        # Brought up to date with the log first (``view``): a token rotated on any
        # worker is an ``access`` change there, and a rotated link must stop working
        # everywhere at once. The tokens themselves are read again only after such a
        # change, or when the hash grew (``add_tokens``, which logs nothing).
        board = await self.view(event_id)
        if board is None:
            return None
        cached = self.copies.tokens.get(event_id)
        if cached is not None:
            return cached.copy()
        # Not cached: tokens still kept as one JSON blob (an old event) move first.
        tokens: dict[bytes, bytes] = await self._call(
            self.redis.hgetall(key(event_id, "tokens")))  # type: ignore[arg-type]
        if not tokens:
            if not await self._migrate_tokens(event_id):
                return None
            tokens = await self._call(self.redis.hgetall(key(event_id, "tokens")))  # type: ignore[arg-type]
        return secrets_of(tokens)

    async def add_tokens(self, event_id: str, tokens: dict[str, str]) -> Secrets:
        await self._migrate_tokens(event_id)
        flat = [part for pair in tokens.items() for part in pair]
        stored = await self._call(self._add_tokens(
            keys=[key(event_id, "seq"), key(event_id, "tokens")], args=flat))
        if stored is None:
            raise NotFound("No such event.")
        # Read again on the next ``view`` (the hash's length moved, on every worker).
        self.copies.tokens.pop(event_id, None)
        return Secrets({stored[i].decode(): stored[i + 1].decode()
                        for i in range(0, len(stored), 2)})

    async def _migrate_tokens(self, event_id: str) -> bool:
        """Move tokens kept as one JSON blob into the hash; whether there was one."""
        legacy = await self._call(self.redis.get(key(event_id, "secrets")))
        if legacy is None:
            return False
        tokens = Secrets.from_legacy_json(legacy).tokens
        await self._call(self._migrate(
            keys=[key(event_id, "tokens"), key(event_id, "secrets")],
            args=[legacy, *[part for pair in tokens.items() for part in pair]]))
        return True

    async def board(self, event_id: str) -> Board | None:
        board = await self.view(event_id)
        return None if board is None else board.copy()

    async def view(self, event_id: str) -> Board | None:
        return await self.copies.view(event_id)

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
        reads = Reads({}, {})
        args = script_args(command, at, data, reads, index_writes(EVENT, None, data), event_id,
                            secrets.tokens)
        raw = await self._call(self._create(keys=keys_of(event_id), args=args))
        if raw is None:
            raise Conflict("This event id is already used.")
        return Change.from_json(raw)

    async def append(self, event_id: str, command: Command) -> Appended:
        read: dict[Field, bytes | None] = {}
        # A create most likely finds no such entity, its room there and open: decided
        # on that guess, it needs no read first (one round trip instead of two); the
        # script answers "moved" when the guess was wrong, and the loop below reads.
        guessed = self._guess(event_id, command) if command.op == "create" else {}
        fetched = False
        moves = 0
        while True:
            reads = Reads(read, guessed)
            at = now_iso()
            refused: DomainError | None = None
            try:
                data, writes = judge(command, reads, at)
            except DomainError as error:
                refused = error
            if reads.missing or (refused is not None and not fetched):
                # Read what the decision missed (first time: also whether the event
                # exists and the key was stored) and decide again.
                need = [*read, *reads.missing] if fetched else [*reads.used, *reads.missing]
                stored = await self._fetch(event_id, command, need, read, first=not fetched)
                if stored is not None:
                    return stored
                fetched, guessed = True, {}
                continue
            if refused is not None:
                if reads.used_guess:
                    guessed = {}
                    continue
                raise refused
            answer = await self._call(self._append(
                keys=keys_of(event_id),
                args=script_args(command, at, data, reads, writes, event_id, command.tokens)))
            outcome = answer[0]
            if outcome == b"stored":
                return Appended(Change.from_json(answer[1]), False)
            if outcome == b"replay":
                return Appended(Change.from_json(answer[1]), True)
            if outcome == b"conflict":
                raise Conflict("This id was already used with different content.")
            if outcome == b"missing":
                raise NotFound("No such event.")
            moves += 1
            if outcome == b"unindexed":
                await self._reindex(event_id)
            elif outcome == b"legacy":
                await self._migrate_tokens(event_id)
            else:  # b"moved": someone changed what the decision read; read it again
                if moves >= RETRIES:
                    current = reads.used.get(("entities", command.entity_key))
                    raise StaleVersion(
                        "This entry is being changed by many people at once; reload and try again.",
                        current=public(orjson.loads(current)) if current else None)
                stored = await self._fetch(event_id, command, list(reads.used), read, first=True)
                if stored is not None:
                    return stored
                fetched, guessed = True, {}

    def _guess(self, event_id: str, command: Command) -> dict[Field, bytes | None]:
        guessed: dict[Field, bytes | None] = {("entities", command.entity_key): None}
        if command.room and command.kind in LOCKABLE:
            board = self.copies.boards.get(event_id)
            room = board.entities.get(entity_key("room", command.room)) if board else None
            guessed[(LOCKS, command.room)] = (
                None if room is None else b"1" if room.get("locked") else b"0")
        if command.room and command.kind in (ITEM, ROLE):
            guessed[(ROOMS, command.room)] = b"1"
        return guessed

    async def _fetch(self, event_id: str, command: Command, need: list[Field],
                     read: dict[Field, bytes | None], first: bool) -> Appended | None:
        """Read ``need`` into ``read`` in one round trip; the first time also check
        that the event exists and whether this key was stored (then its answer)."""
        need = list(dict.fromkeys(need))
        async with self.redis.pipeline(transaction=True) as pipe:
            if first:
                pipe.exists(key(event_id, "seq"))
                pipe.hget(key(event_id, "keys"), command.key)
            for hash_name, name in need:
                pipe.hget(key(event_id, hash_name), name)
            answers = await self._call(pipe.execute())
        if first:
            exists, stored, *answers = answers
            if not exists:
                raise NotFound("No such event.")
            if stored is not None:
                return await self._replay(event_id, command, stored)
        read.clear()
        read.update(zip(need, answers, strict=True))
        return None

    async def _reindex(self, event_id: str) -> None:
        """Build the indexes of an event stored before they existed."""
        read = await self._call(whole(self.redis, event_id))
        if read is None:
            return
        board = read[0]
        args: list[Any] = [board.seq]
        for index, table in Indexes.of(board).values.items():
            for name, value in table.items():
                args += [POSITION[index], name, value]
        await self._call(self._reindex_script(keys=keys_of(event_id), args=args))

    async def _replay(self, event_id: str, command: Command, stored: bytes) -> Appended:
        seq, _, fingerprint = stored.decode().partition(":")
        if fingerprint != command.fingerprint:
            raise Conflict("This id was already used with different content.")
        raw = await self._call(self.redis.lindex(key(event_id, "log"), int(seq) - 1))
        if raw is None:
            raise StoreUnavailable("The log lacks a change its idempotency key points to.")
        return Appended(Change.from_json(raw), True)

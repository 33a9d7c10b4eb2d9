"""What a worker keeps of each event it serves from Redis: the board and the tokens.

Every request and every socket handshake reads the event's board and its tokens.
Reading the board whole each time would cost O(event), and reading every token
(``HGETALL``) each time was, in a reconnect storm of five thousand sockets, five
thousand round trips queued on the connection pool. So each worker keeps both, and
brings them up to date in one round trip per request, shared by the requests of the
same moment (``flight.NextFlight``): the changes logged since its board's seq, and,
for the tokens, only how many there are.

The tokens a worker keeps are never trusted past the log. A token is replaced or
taken away only by an append of an ``access`` change (``Store.secrets``), and new
rooms' links come with the event's own change: once the board passes a change of
those kinds, the tokens are read again with the log. A token added with
``add_tokens`` logs nothing, but makes the hash longer, which the same round trip
shows. A link rotated or revoked on one worker therefore fails on the very next
request on every other; nothing about tokens lives in one process's memory alone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from redis.asyncio import Redis

from facilitation.domain import ACCESS, EVENT, Board, Change, Secrets
from facilitation.store.flight import NextFlight
from facilitation.store.redis_scripts import key

# A kept board this many changes behind is read whole instead of caught up.
CATCH_UP = 500

# The kinds of change whose append may replace or take away a token (a rotation is
# an ``access`` change; the event's own changes carry new rooms' links).
TOKEN_KINDS = frozenset({ACCESS, EVENT})

# How every read goes to Redis (``RedisStore._call``: failures as StoreUnavailable).
Call = Callable[[Awaitable[Any]], Awaitable[Any]]


def secrets_of(tokens: dict[bytes, bytes]) -> Secrets:
    return Secrets({k.decode(): v.decode() for k, v in tokens.items()})


class Copies:
    def __init__(self, redis: Redis, call: Call) -> None:
        self.redis = redis
        self.call = call
        self.boards: dict[str, Board] = {}
        # Each event's tokens as of its board above; absent: read them with the log.
        self.tokens: dict[str, Secrets] = {}
        self._flights: dict[str, NextFlight[Board | None]] = {}

    async def view(self, event_id: str) -> Board | None:
        """The event's board brought up to date with the changes logged since (one
        round trip, the size of what changed), or read whole when there is none yet,
        it is far behind, or Redis lost changes; its tokens with it. Callers of the
        same moment share one read that began after each of them asked."""
        flight = self._flights.get(event_id)
        if flight is None:
            flight = self._flights[event_id] = NextFlight(lambda: self._refresh(event_id))
        return await flight()

    async def _refresh(self, event_id: str) -> Board | None:
        # Only ever one at a time per event (its NextFlight): the board and the
        # tokens move together, in log order.
        kept = self.boards.get(event_id)
        tokens = self.tokens.get(event_id)
        if kept is not None:
            seq, missed, held = await self.call(self._since(event_id, kept.seq, tokens))
            if seq is not None and int(seq) >= kept.seq and len(missed) < CATCH_UP:
                rotated = False
                for raw in missed:
                    change = Change.from_json(raw)
                    rotated = rotated or (change.seq > kept.seq and change.kind in TOKEN_KINDS)
                    kept.apply(change)
                if tokens is None:
                    self._keep_tokens(event_id, held)
                elif rotated or held != len(tokens.tokens):
                    # A token was replaced or taken away (on any worker), or one was
                    # added: read them again, with the log.
                    self.tokens.pop(event_id, None)
                    return await self._refresh(event_id)
                return kept
        read: tuple[Board, dict[bytes, bytes]] | None = await self.call(
            whole(self.redis, event_id))
        if read is None:
            self.boards.pop(event_id, None)
            self.tokens.pop(event_id, None)
            return None
        board, held = read
        self.boards[event_id] = board
        self._keep_tokens(event_id, held)
        return board

    def _keep_tokens(self, event_id: str, held: dict[bytes, bytes]) -> None:
        if held:  # empty: an old event's tokens are still one blob (RedisStore.secrets)
            self.tokens[event_id] = secrets_of(held)
        else:
            self.tokens.pop(event_id, None)

    async def _since(self, event_id: str, seq: int, tokens: Secrets | None) -> list[Any]:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(key(event_id, "seq"))
            pipe.lrange(key(event_id, "log"), seq, seq + CATCH_UP - 1)
            if tokens is None:
                pipe.hgetall(key(event_id, "tokens"))
            else:
                pipe.hlen(key(event_id, "tokens"))  # a rotation is in the log
            return await pipe.execute()


async def whole(redis: Redis, event_id: str) -> tuple[Board, dict[bytes, bytes]] | None:
    """The event's board and tokens read whole, at one seq; None without the event."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.get(key(event_id, "seq"))
        pipe.hgetall(key(event_id, "entities"))
        pipe.hgetall(key(event_id, "tokens"))
        seq, entities, tokens = await pipe.execute()
    if seq is None:
        return None
    board = Board(event_id, int(seq), {k.decode(): orjson.loads(v) for k, v in entities.items()})
    return board, tokens

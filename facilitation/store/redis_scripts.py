"""The Redis store's Lua scripts: each one atomic in Redis (see store/redis.py).

Every append and create runs ``STORE``'s steps: the next seq, the change pushed
onto the log, the idempotency key, the writes (the entity and the indexes the
rules read), the tokens, and the publish. The change JSON is the seq
concatenated onto the JSON Python encoded: Lua never decodes or re-encodes user
content (cjson would, for one, turn ``[]`` into ``{}``).
"""

from __future__ import annotations

from typing import Any

import orjson

from facilitation.domain import Command, Entity
from facilitation.rules import BALLOTS, CLAIMS, LOCKS, OCCUPANCY, ROOMS, Write
from facilitation.store import channel


def key(event_id: str, name: str) -> str:
    return f"facilitation:{{{event_id}}}:{name}"


# Every script gets the event's keys in this order (all in the event's hash slot).
HASHES = ("entities", LOCKS, BALLOTS, CLAIMS, OCCUPANCY, ROOMS)
KEY_NAMES = ("seq", "log", "keys", "tokens", "secrets", "indexed", *HASHES)
# A hash's position in KEYS (Lua counts from 1), as checks and writes name it.
POSITION = {name: KEY_NAMES.index(name) + 1 for name in HASHES}

# ARGV from 5 on: n checks, n writes, n tokens, then each check (hash position,
# field, value as read with '' for absent), each write (hash position, field, op,
# value: op S sets, D deletes, I adds to a counter), each token (field, token; an
# empty token takes the field's token away).
_STORE = """
local at = 8 + 3 * tonumber(ARGV[5])
local seq = redis.call('INCR', KEYS[1])
local change = '{"seq":' .. seq .. ARGV[3]
redis.call('RPUSH', KEYS[2], change)
redis.call('HSET', KEYS[3], ARGV[1], seq .. ':' .. ARGV[2])
for _ = 1, tonumber(ARGV[6]) do
  local hash, field, op, value = KEYS[tonumber(ARGV[at])], ARGV[at + 1], ARGV[at + 2], ARGV[at + 3]
  if op == 'S' then
    redis.call('HSET', hash, field, value)
  elseif op == 'D' then
    redis.call('HDEL', hash, field)
  else
    redis.call('HINCRBY', hash, field, tonumber(value))
  end
  at = at + 4
end
for _ = 1, tonumber(ARGV[7]) do
  if ARGV[at + 1] == '' then
    redis.call('HDEL', KEYS[4], ARGV[at])
  else
    redis.call('HSET', KEYS[4], ARGV[at], ARGV[at + 1])
  end
  at = at + 2
end
redis.call('PUBLISH', ARGV[4], change)
"""

# ARGV 1-4: idempotency key, fingerprint, change JSON after its seq, channel.
# Every value the decision read is checked unchanged ('moved' otherwise: the
# caller reads again and decides again), so a rule that spans entities (a vote
# budget, an item in one joint action, a room removed only while empty) holds
# across every worker and machine, without a lock anywhere.
APPEND = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'missing'}
end
local stored = redis.call('HGET', KEYS[3], ARGV[1])
if stored then
  local sep = string.find(stored, ':', 1, true)
  if string.sub(stored, sep + 1) ~= ARGV[2] then
    return {'conflict'}
  end
  return {'replay', redis.call('LINDEX', KEYS[2], tonumber(string.sub(stored, 1, sep - 1)) - 1)}
end
if redis.call('EXISTS', KEYS[6]) == 0 then
  return {'unindexed'}
end
if tonumber(ARGV[7]) > 0 and redis.call('EXISTS', KEYS[5]) == 1 then
  return {'legacy'}
end
local at = 8
for _ = 1, tonumber(ARGV[5]) do
  if (redis.call('HGET', KEYS[tonumber(ARGV[at])], ARGV[at + 1]) or '') ~= ARGV[at + 2] then
    return {'moved'}
  end
  at = at + 3
end
""" + _STORE + """
return {'stored', change}
"""

CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[5]) == 1 then
  return false
end
redis.call('SET', KEYS[6], '1')
""" + _STORE + """
return change
"""

# KEYS: seq, tokens. ARGV: field, token, ... Each field without a token gets one.
ADD_TOKENS = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return false
end
for i = 1, #ARGV, 2 do
  redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i + 1])
end
return redis.call('HGETALL', KEYS[2])
"""

# Tokens kept as one JSON blob (before one field per token) move into the hash.
# KEYS: tokens, legacy secrets. ARGV: the blob as read, then field, token, ...
MIGRATE_TOKENS = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return 0
end
for i = 2, #ARGV, 2 do
  redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('DEL', KEYS[2])
return 1
"""

# An event stored before the indexes existed gets them, built from its entities
# as read at seq ARGV[1]. KEYS: as every script. ARGV: seq, then hash position, field, value, ...
REINDEX = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if redis.call('EXISTS', KEYS[6]) == 1 then
  return 1
end
for i = 8, #KEYS do
  redis.call('DEL', KEYS[i])
end
for i = 2, #ARGV, 3 do
  redis.call('HSET', KEYS[tonumber(ARGV[i])], ARGV[i + 1], ARGV[i + 2])
end
redis.call('SET', KEYS[6], '1')
return 1
"""


# -- the arguments of APPEND and CREATE, as the decision in Python makes them --------

Field = tuple[str, str]  # (hash, field)


class Reads:
    """What a decision reads, for ``rules.judge``: values read from Redis, or
    guessed (a create's likely state), each remembered so the script can check
    it is still so. A value not read yet counts as absent and is noted as
    missing; a decision that missed anything is made again once it is read."""

    def __init__(self, read: dict[Field, bytes | None], guessed: dict[Field, bytes | None]) -> None:
        self.read = read
        self.guessed = guessed
        self.used: dict[Field, bytes | None] = {}
        self.missing: list[Field] = []
        self.used_guess = False

    def _get(self, name: Field) -> bytes | None:
        if name in self.read:
            value = self.read[name]
        elif name in self.guessed:
            value = self.guessed[name]
            self.used_guess = True
        else:
            self.missing.append(name)
            return None
        self.used[name] = value
        return value

    def entity(self, name: str) -> Entity | None:
        raw = self._get(("entities", name))
        return orjson.loads(raw) if raw else None

    def value(self, index: str, name: str) -> str:
        raw = self._get((index, name))
        return raw.decode() if raw else ""


def script_args(command: Command, at: str, data: Entity, reads: Reads, writes: list[Write],
                 event_id: str, tokens: dict[str, str]) -> list[Any]:
    args: list[Any] = [command.key, command.fingerprint, tail(command, at, data),
                       channel(event_id), len(reads.used), len(writes) + 1, len(tokens)]
    for (hash_name, name), as_read in reads.used.items():
        args += [POSITION[hash_name], name, as_read or b""]
    args += [POSITION["entities"], command.entity_key, "S", orjson.dumps(data)]
    for index, name, op, value in writes:
        args += [POSITION[index], name, op, value]
    for name, token in tokens.items():
        args += [name, token]
    return args


def tail(command: Command, at: str, data: dict[str, Any]) -> bytes:
    """The change's JSON without its opening ``{"seq":N``: the script puts the seq in."""
    body = orjson.dumps(
        {"room": command.room, "type": command.change_type, "key": command.key, "at": at,
         "data": data}
    )
    return b"," + body[1:]

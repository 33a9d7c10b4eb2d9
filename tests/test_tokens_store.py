"""Tokens are stored one per field, with the change that announces them: a rotation
is whole or nothing and touches no other token; a new room always has its join token.
Run against both stores (the contract tests' backends)."""

from __future__ import annotations

import orjson
import pytest

from facilitation import domain
from facilitation.broker import Broker
from facilitation.domain import ACCESS, EVENT, Secrets, join_field, make_command
from facilitation.store import Store
from facilitation.store.redis import RedisStore, key
from facilitation.store.sqlite import SQLiteStore
from facilitation.store.sqlite_support import migrate_tokens
from tests.test_store_contract import backend, new_event  # noqa: F401 - the fixture

pytestmark = pytest.mark.usefixtures("backend")


def rotation(token_field: str, token: str, room: str | None = None) -> domain.Command:
    entity_id = domain.access_id(token_field)
    return make_command(ACCESS, "create", entity_id, room, {"target": entity_id, "rotation": 1},
                        key=f"access:{entity_id}:{domain.new_id()}", tokens={token_field: token})


async def test_a_rotation_stores_its_token_with_its_change_and_no_other(
    backend: tuple[Store, Broker],  # noqa: F811
) -> None:
    store, _ = backend
    event_id = await new_event(store)
    before = await store.secrets(event_id)
    assert before is not None
    appended = await store.append(event_id, rotation(join_field("r1"), "new-r1", "r1"))
    assert "new-r1" not in appended.change.to_json().decode()  # never in the log
    after = await store.secrets(event_id)
    assert after is not None and after.join_tokens["r1"] == "new-r1"
    assert {k: v for k, v in after.tokens.items() if k != "join:r1"} == {
        k: v for k, v in before.tokens.items() if k != "join:r1"}


async def test_a_refused_rotation_stores_no_token(backend: tuple[Store, Broker]) -> None:  # noqa: F811
    store, _ = backend
    event_id = await new_event(store)
    with pytest.raises(domain.NotFound):
        await store.append(event_id, rotation(join_field("gone"), "never", "gone"))
    secrets = await store.secrets(event_id)
    assert secrets is not None and "never" not in secrets.tokens.values()
    # A rotation without its token is refused too: the change would announce nothing.
    bare = make_command(ACCESS, "create", "plenary", None, {"target": "plenary", "rotation": 1})
    with pytest.raises(domain.DomainError):
        await store.append(event_id, bare)


async def test_a_new_room_is_stored_with_its_join_token(backend: tuple[Store, Broker]) -> None:  # noqa: F811
    store, _ = backend
    event_id = await new_event(store)
    board = await store.board(event_id)
    assert board is not None
    rooms = [*board.event["rooms"], {"id": "r3", "name": "Three", "prompt": ""}]
    without = make_command(EVENT, "update", event_id, None, {"rooms": rooms}, version=1)
    with pytest.raises(domain.DomainError):
        await store.append(event_id, without)
    with_token = make_command(EVENT, "update", event_id, None, {"rooms": rooms}, version=1,
                              tokens={join_field("r3"): "join-r3"})
    await store.append(event_id, with_token)
    secrets = await store.secrets(event_id)
    assert secrets is not None and secrets.join_tokens["r3"] == "join-r3"
    assert set(secrets.join_tokens) == {"r1", "r2", "r3"}


async def test_add_tokens_keeps_the_first_token_of_each_field(
    backend: tuple[Store, Broker],  # noqa: F811
) -> None:
    store, _ = backend
    event_id = await new_event(store)
    first = await store.add_tokens(event_id, {"owner:a": "one"})
    again = await store.add_tokens(event_id, {"owner:a": "two", "owner:b": "three"})
    assert first.tokens["owner:a"] == "one"
    assert again.tokens["owner:a"] == "one" and again.tokens["owner:b"] == "three"
    with pytest.raises(domain.NotFound):
        await store.add_tokens("unknown", {"owner:a": "x"})


async def test_tokens_kept_as_one_blob_are_moved_into_fields(
    backend: tuple[Store, Broker],  # noqa: F811
) -> None:
    """An event stored before one field per token keeps its links after the upgrade."""
    store, _ = backend
    event_id = await new_event(store)
    current = await store.secrets(event_id)
    assert current is not None
    blob = orjson.dumps({"organiser_token": "o", "plenary_token": "p",
                         "join_tokens": {"r1": "j1", "r2": "j2"}})
    if isinstance(store, RedisStore):
        await store.redis.delete(key(event_id, "tokens"))
        await store.redis.set(key(event_id, "secrets"), blob)
    else:
        assert isinstance(store, SQLiteStore)
        store.db.execute("DELETE FROM tokens WHERE event_id = ?", (event_id,))
        store.db.execute("UPDATE events SET secrets = ? WHERE id = ?", (blob.decode(), event_id))
        store._secrets.clear()
        migrate_tokens(store.db)
    moved = await store.secrets(event_id)
    assert moved == Secrets({"organiser": "o", "plenary": "p", "join:r1": "j1", "join:r2": "j2"})


async def test_an_event_stored_before_the_indexes_gets_them(
    backend: tuple[Store, Broker],  # noqa: F811
) -> None:
    store, _ = backend
    if not isinstance(store, RedisStore):
        pytest.skip("the SQLite store builds its indexes in memory when it loads an event")
    event_id = await new_event(store)
    await store.append(event_id, make_command("item", "create", "a", "r1", {"text": "t"}))
    await store.redis.delete(*(key(event_id, n) for n in
                               ("indexed", "rooms", "occupancy", "ballots", "claims")))
    await store.append(event_id, make_command("item", "create", "b", "r2", {"text": "t"}))
    assert await store.redis.hgetall(key(event_id, "occupancy")) == {b"r1": b"1", b"r2": b"1"}
    assert await store.redis.hget(key(event_id, "rooms"), "r2") == b"1"


async def test_a_worker_keeping_the_tokens_sees_another_workers_rotation_at_once(
    backend: tuple[Store, Broker],  # noqa: F811
) -> None:
    """Each worker keeps the tokens it read (every request and handshake needs them),
    and reads them again only when its board, brought up to date with the log on
    every request, passes an ``access`` change, or the hash grew. A rotated or
    revoked link fails on the very next request on the other worker; a link added
    there works on it at once."""
    store, _ = backend
    if not isinstance(store, RedisStore):
        pytest.skip("one SQLite store is one process: nobody else changes its tokens")
    other = RedisStore(store.url)  # a second worker
    try:
        event_id = await new_event(store)
        kept = await other.secrets(event_id)
        assert kept is not None and other.copies.tokens[event_id] == kept
        await store.append(event_id, rotation(join_field("r1"), "new-r1", "r1"))
        seen = await other.secrets(event_id)
        assert seen is not None and seen.join_tokens["r1"] == "new-r1"
        await store.add_tokens(event_id, {"owner:a": "owner-a"})
        seen = await other.secrets(event_id)
        assert seen is not None and seen.owner_tokens == {"a": "owner-a"}
        await store.append(event_id, rotation("owner:a", ""))  # revoked
        seen = await other.secrets(event_id)
        assert seen is not None and "a" not in seen.owner_tokens
        # Nothing else moved: the other worker's tokens are the store's.
        assert seen == await store.secrets(event_id)
    finally:
        await other.disconnect()

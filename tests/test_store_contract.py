"""Contract tests every Store and Broker must pass, run against each backend.

A backend is a (store, broker) pair built by ``make_backend``: SQLite with the
in-process broker, and Redis for both (against a real Redis server).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from facilitation import domain
from facilitation.broker import Broker
from facilitation.broker.memory import MemoryBroker
from facilitation.broker.redis import RedisBroker
from facilitation.domain import EVENT, ITEM, Change, Secrets, make_command
from facilitation.store import Store, channel
from facilitation.store.redis import RedisStore
from facilitation.store.sqlite import SQLiteStore

BACKENDS = ["sqlite", "redis"]


async def make_backend(name: str, tmp_path: Path, request: pytest.FixtureRequest) -> tuple[Store, Broker]:
    if name == "sqlite":
        broker = MemoryBroker()
        return SQLiteStore(tmp_path / "db.sqlite3", broker), broker
    if name == "redis":
        # The machine's shared Redis is fine: every test makes its own random event ids.
        url = request.getfixturevalue("redis_server").url()
        return RedisStore(url), RedisBroker(url)
    raise LookupError(name)


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[Store, Broker]]:
    store, broker = await make_backend(request.param, tmp_path, request)
    await broker.connect()
    await store.connect()
    yield store, broker
    await store.disconnect()
    await broker.disconnect()


async def new_event(store: Store) -> str:
    event_id = domain.new_id()
    rooms = [{"id": "r1", "name": "One", "prompt": ""}, {"id": "r2", "name": "Two", "prompt": ""}]
    command = make_command(EVENT, "create", event_id, None, {"title": "T", "rooms": rooms, "goals": []})
    first = await store.create_event(event_id, Secrets.generate(["r1", "r2"]), command)
    assert first.seq == 1
    return event_id


def create(entity_id: str, room: str = "r1", text: str = "t") -> domain.Command:
    return make_command(ITEM, "create", entity_id, room, {"text": text})


async def test_append_assigns_event_wide_sequence_numbers(backend: tuple[Store, Broker]) -> None:
    store, _ = backend
    event_id = await new_event(store)
    seqs = [(await store.append(event_id, create(f"i{n}", room=f"r{n % 2 + 1}"))).change.seq
            for n in range(5)]
    assert seqs == [2, 3, 4, 5, 6]
    board = await store.board(event_id)
    assert board is not None and board.seq == 6
    assert len(board.live(ITEM)) == 5 and len(board.live(ITEM, "r1")) == 3


async def test_same_key_is_stored_once_and_other_body_conflicts(backend: tuple[Store, Broker]) -> None:
    store, _ = backend
    event_id = await new_event(store)
    first = await store.append(event_id, create("a", text="hello"))
    again = await store.append(event_id, create("a", text="hello"))
    assert not first.replayed and again.replayed
    assert again.change == first.change
    with pytest.raises(domain.Conflict):
        await store.append(event_id, create("a", text="other"))
    assert [c.seq for c in await store.changes_after(event_id, 0)] == [1, 2]


async def test_concurrent_duplicates_are_stored_once(backend: tuple[Store, Broker]) -> None:
    store, _ = backend
    event_id = await new_event(store)
    results = await asyncio.gather(*(store.append(event_id, create("x")) for _ in range(20)))
    assert len({r.change.seq for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1


async def test_versions_and_stale_updates(backend: tuple[Store, Broker]) -> None:
    store, _ = backend
    event_id = await new_event(store)
    await store.append(event_id, create("a"))
    updated = await store.append(
        event_id, make_command(ITEM, "update", "a", "r1", {"text": "b"}, version=1))
    assert updated.change.data["version"] == 2 and updated.change.data["text"] == "b"
    with pytest.raises(domain.StaleVersion) as stale:
        await store.append(event_id, make_command(ITEM, "update", "a", "r1", {"text": "c"}, version=1))
    assert stale.value.current is not None and stale.value.current["text"] == "b"
    with pytest.raises(domain.NotFound):
        await store.append(event_id, make_command(ITEM, "update", "a", "r2", {"text": "c"}, version=2))
    deleted = await store.append(event_id, make_command(ITEM, "delete", "a", "r1"))
    assert deleted.change.type == "item.deleted"
    board = await store.board(event_id)
    assert board is not None and board.live(ITEM) == []


async def test_locked_rooms_refuse_writes(backend: tuple[Store, Broker]) -> None:
    store, _ = backend
    event_id = await new_event(store)
    await store.append(event_id, make_command("room", "create", "r1", "r1", {"locked": True}))
    with pytest.raises(domain.Locked):
        await store.append(event_id, create("a"))
    await store.append(event_id, create("b", room="r2"))


async def test_a_write_to_an_unknown_event_stores_nothing(backend: tuple[Store, Broker]) -> None:
    store, _ = backend
    for command in (create("a"), make_command(ITEM, "update", "a", "r1", {"text": "b"}, version=1)):
        with pytest.raises(domain.NotFound):
            await store.append("no-such-event", command)
    assert await store.board("no-such-event") is None
    assert await store.changes_after("no-such-event", 0) == []


async def test_a_create_over_an_existing_entry_is_decided_against_it(
    backend: tuple[Store, Broker],
) -> None:
    """A create is first tried as "a new entry in an open room"; when the entry
    exists already (made under another key) or the room was locked meanwhile, it
    is decided again against what is stored, never stored over it."""
    store, _ = backend
    event_id = await new_event(store)
    first = await store.append(event_id, make_command("room", "create", "r2", "r2", {"locked": False},
                                                      key="room-r2-first"))
    with pytest.raises(domain.Conflict):
        await store.append(event_id, make_command("room", "create", "r2", "r2", {"locked": True},
                                                  key="room-r2-second"))
    board = await store.board(event_id)
    assert board is not None and board.entities["room:r2"] == first.change.data


async def test_changes_after_pages_in_order(backend: tuple[Store, Broker]) -> None:
    store, _ = backend
    event_id = await new_event(store)
    for n in range(30):
        await store.append(event_id, create(f"i{n}"))
    assert [c.seq for c in await store.changes_after(event_id, 10, limit=5)] == [11, 12, 13, 14, 15]
    assert [c.seq for c in await store.changes_after(event_id, 29)] == [30, 31]
    assert await store.changes_after("unknown", 0) == []


async def test_every_stored_change_is_published_in_order(backend: tuple[Store, Broker]) -> None:
    store, broker = backend
    event_id = await new_event(store)
    received: list[Change] = []
    async with broker.subscribe(channel(event_id)) as subscription:
        await asyncio.sleep(0.1)  # a Redis subscription is confirmed asynchronously
        await asyncio.gather(*(store.append(event_id, create(f"i{n}")) for n in range(10)))

        async def read() -> None:
            async for message in subscription:
                if isinstance(message, Change):
                    # Handed over in-process: encoded once by the store, never decoded.
                    assert isinstance(broker, MemoryBroker)
                    received.append(message)
                elif message:
                    received.append(Change.from_json(message))
                if len(received) == 10:
                    return

        await asyncio.wait_for(read(), 5)
    assert [c.seq for c in received] == list(range(2, 12))
    # What was published is what the log holds, byte for byte once encoded.
    stored = await store.changes_after(event_id, 1)
    assert stored == received
    assert [c.to_json() for c in stored] == [c.to_json() for c in received]


async def test_secrets_round_trip(backend: tuple[Store, Broker]) -> None:
    store, _ = backend
    event_id = await new_event(store)
    secrets = await store.secrets(event_id)
    assert secrets is not None and set(secrets.join_tokens) == {"r1", "r2"}
    assert secrets.organiser_token and secrets.plenary_token
    assert await store.secrets("unknown") is None
    assert event_id in await store.event_ids()


async def test_broker_fans_out_to_every_subscriber(backend: tuple[Store, Broker]) -> None:
    _, broker = backend
    name = channel(domain.new_id())
    async with broker.subscribe(name) as one, broker.subscribe(name) as two:
        await asyncio.sleep(0.1)
        await broker.publish(name, b"hello")
        for subscription in (one, two):
            assert await asyncio.wait_for(first_message(subscription), 5) == b"hello"


async def first_message(subscription: Any) -> bytes:
    async for message in subscription:
        if message:
            return bytes(message)
    raise AssertionError("subscription ended")


async def test_the_board_follows_every_change_after_it_was_first_read(
    backend: tuple[Store, Broker],
) -> None:
    store, _ = backend
    event_id = await new_event(store)
    first = await store.board(event_id)
    assert first is not None and first.seq == 1
    await store.append(event_id, create("a", text="one"))
    await store.append(event_id, create("b"))
    await store.append(event_id, make_command(ITEM, "update", "a", "r1", {"text": "two"}, version=1))
    await store.append(event_id, make_command(ITEM, "delete", "b", "r1"))
    board = await store.board(event_id)
    assert board is not None and board.seq == 5
    assert [(i["id"], i["text"], i["version"]) for i in board.live(ITEM)] == [("a", "two", 2)]
    assert first.seq == 1 and first.live(ITEM) == []  # a snapshot: later changes do not leak in
    # Many changes later (more than one catch-up page) it is still exact.
    await asyncio.gather(*(store.append(event_id, create(f"n{n}")) for n in range(600)))
    board = await store.board(event_id)
    assert board is not None and board.seq == 605 and len(board.live(ITEM)) == 601

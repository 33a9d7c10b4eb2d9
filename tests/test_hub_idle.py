"""A hub stopped by its idle timer is never joined by a socket that is attaching.

The race (hub.py's idle stop against web/live.py's attach): the last socket of an event
leaves, the idle timer stops the hub, and a socket that found that hub a moment
before attaches to it anyway; its stream then stays silent. Each round here lets the
stop get a little further before the next socket joins: whatever the order, the
socket joins a running hub that follows the event.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from facilitation.broker.memory import MemoryBroker
from facilitation.hub import EventHub, Hubs, Listener
from facilitation.store.sqlite import SQLiteStore
from tests.test_store_contract import create, new_event


async def test_a_socket_never_joins_a_hub_the_idle_timer_stopped(tmp_path: Path) -> None:
    broker = MemoryBroker()
    store = SQLiteStore(tmp_path / "facilitation.sqlite3", broker)
    await broker.connect()
    await store.connect()
    hubs = Hubs(store, broker, lambda change, board, view: "{}", idle_seconds=0)
    try:
        event_id = await new_event(store)
        for round_ in range(16):
            leaving = Listener("json", None, 0)
            hub = await hubs.join(event_id, leaving)
            hubs.detach(hub, leaving)  # the last one: the idle stop is due at once
            for _ in range(round_ % 8):
                await asyncio.sleep(0)  # the stop gets this much further first
            joining = Listener("json", None, 0)
            joined = await hubs.join(event_id, joining)
            assert not joined.stopped and joining in joined.listeners, round_
            seq = (await store.append(event_id, create(f"i{round_}"))).change.seq

            async def follows(hub: EventHub = joined, seq: int = seq) -> None:
                while hub.board.seq < seq:  # noqa: ASYNC110 - the hub applies it on its own
                    await asyncio.sleep(0.01)

            await asyncio.wait_for(follows(), 5)
            assert not joined.stopped, round_
            hubs.detach(joined, joining)
            await asyncio.sleep(0.01)
    finally:
        await hubs.close()
        await store.disconnect()
        await broker.disconnect()

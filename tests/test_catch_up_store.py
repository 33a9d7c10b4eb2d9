"""The embedded store's catch-up reads never hold up its writes.

Catch-up reads the log on a connection and thread of their own (WAL): a write
completes and is acknowledged while every catch-up read is stuck.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from facilitation import domain
from facilitation.broker.memory import MemoryBroker
from facilitation.domain import EVENT, ITEM, Secrets, make_command
from facilitation.store.sqlite import SQLiteStore


async def test_a_write_completes_while_catch_up_reads_are_stuck(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite3", MemoryBroker())
    await store.connect()
    try:
        event_id = domain.new_id()
        rooms = [{"id": "r1", "name": "One", "prompt": ""}]
        await store.create_event(event_id, Secrets.generate(["r1"]), make_command(
            EVENT, "create", event_id, None, {"title": "T", "rooms": rooms, "goals": []}))
        await store.append(event_id, make_command(ITEM, "create", "a", "r1", {"text": "one"}))
        # Hold the catch-up reader: everything queued behind it waits until released.
        release = threading.Event()
        loop = asyncio.get_running_loop()
        blocker = loop.run_in_executor(store._read_thread, release.wait, 30)
        reads = [asyncio.create_task(store.changes_after(event_id, 0)) for _ in range(50)]
        await asyncio.sleep(0.05)
        try:
            appended = await asyncio.wait_for(store.append(
                event_id, make_command(ITEM, "create", "b", "r1", {"text": "two"})), 10)
            assert appended.change.seq == 3
            assert not any(read.done() for read in reads)
        finally:
            release.set()
        await blocker
        # The reader's own connection sees what the writer committed.
        for read in reads:
            assert [c.seq for c in await read] == [1, 2, 3]
    finally:
        await store.disconnect()

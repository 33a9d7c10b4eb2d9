"""The embedded default (one worker, SQLite) under kill -9 and SIGTERM, with real
processes: nothing acknowledged is lost, nothing is stored or shown twice."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.faults.workers import (
    Participant,
    View,
    Worker,
    assert_exactly_once,
    converge,
    create_event,
    event_seq,
    stored_items,
    until,
)

pytestmark = pytest.mark.slow

PARTICIPANTS = 20
ITEMS_EACH = 6


@pytest.fixture
async def worker(tmp_path: Path) -> AsyncIterator[Worker]:
    running = await Worker(tmp_path / "data", free_port(), "secret-" + uuid.uuid4().hex).start()
    yield running
    running.stop()


async def run_day(worker: Worker, fault: object) -> None:
    """Participants write and watch; ``fault`` strikes once 40 items are acknowledged."""
    event = await create_event(worker.url)
    rooms = event["rooms"]
    participants = [Participant([worker.url], event["id"], rooms[n % len(rooms)], f"P{n}")
                    for n in range(PARTICIPANTS)]
    views = [View([worker.ws_url], event["id"], event["plenary_token"]).start()]
    views += [View([worker.ws_url], event["id"], room["join_token"]).start() for room in rooms[:2]]
    room_of_view = {0: None, 1: rooms[0]["id"], 2: rooms[1]["id"]}

    async with httpx.AsyncClient(base_url=worker.url, timeout=10) as http:
        async def day(p: Participant) -> None:
            for i in range(ITEMS_EACH):
                await p.submit([http], f"{p.name} item {i}")

        writing = asyncio.gather(*(day(p) for p in participants))
        await until(lambda: sum(len(p.acknowledged) for p in participants) >= 40)
        await fault(views)  # type: ignore[operator]
        await writing

    final = await event_seq(worker.url, event)
    await converge(views, room_of_view, final)
    stored = await stored_items(worker.url, event)
    count = assert_exactly_once(event, participants, stored, views, room_of_view)
    assert count == PARTICIPANTS * ITEMS_EACH
    assert final == 1 + count  # the event's creation, then each item once
    for view in views:
        await view.stop()


async def test_kill_9_of_the_worker_loses_no_acknowledged_write(worker: Worker) -> None:
    async def crash(views: list[View]) -> None:
        worker.kill()
        await asyncio.sleep(0.3)  # clients keep failing meanwhile: refused connections
        await worker.start()

    await run_day(worker, crash)


async def test_sigterm_under_load_closes_sockets_with_1012_and_finishes_writes(
    worker: Worker,
) -> None:
    async def restart(views: list[View]) -> None:
        code = await worker.terminate()
        # uvicorn shuts down gracefully, then re-raises the signal so the exit
        # status says why it stopped.
        assert code in (0, -signal.SIGTERM)
        # Every page was told "service restart" and so reconnects elsewhere or later.
        assert all(1012 in view.closes for view in views)
        await worker.start()

    await run_day(worker, restart)

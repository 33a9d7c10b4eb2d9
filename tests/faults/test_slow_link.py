"""Conference Wi-Fi: a client link with seconds of latency that is also reset every
few seconds. Requests die mid-flight (some after the server stored them), sockets
drop; clients resend and reconnect; in the end every view equals the store."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.faults.proxy import Proxy
from tests.faults.workers import (
    Participant,
    View,
    Worker,
    assert_exactly_once,
    converge,
    create_event,
    event_seq,
    stored_items,
)

pytestmark = pytest.mark.slow


@pytest.fixture
async def worker(tmp_path: Path) -> AsyncIterator[Worker]:
    running = await Worker(tmp_path / "data", free_port(), "secret-" + uuid.uuid4().hex).start()
    yield running
    running.stop()


async def test_latency_and_resets_lose_nothing_and_duplicate_nothing(worker: Worker) -> None:
    event = await create_event(worker.url)
    rooms = event["rooms"]
    proxy = await Proxy(worker.port).start()
    proxy.delay = 0.8  # each way: a round trip takes seconds
    participants = [Participant([proxy.url], event["id"], rooms[n % 3], f"P{n}")
                    for n in range(6)]
    views = [View([proxy.ws_url], event["id"], event["plenary_token"]).start()]
    views += [View([proxy.ws_url], event["id"], room["join_token"]).start() for room in rooms[:3]]
    room_of_view = {0: None, 1: rooms[0]["id"], 2: rooms[1]["id"], 3: rooms[2]["id"]}

    async def access_point_drops() -> None:
        for _ in range(4):
            await asyncio.sleep(2.5)
            proxy.cut()  # every open connection reset: requests, responses, sockets

    drops = asyncio.create_task(access_point_drops())
    async with httpx.AsyncClient(base_url=proxy.url, timeout=6) as http:
        async def day(p: Participant) -> None:
            for i in range(4):
                await p.submit([http], f"{p.name} item {i}")

        await asyncio.gather(*(day(p) for p in participants))
    drops.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await drops
    assert sum(p.failovers for p in participants) > 0  # the resets did hit requests
    assert all(view.connects > 1 for view in views)  # and dropped every socket: they came back

    proxy.heal()
    final = await event_seq(worker.url, event)
    await converge(views, room_of_view, final)
    stored = await stored_items(worker.url, event)
    count = assert_exactly_once(event, participants, stored, views, room_of_view)
    assert count == 24 and final == 1 + count
    for view in views:
        await view.stop()
    await proxy.stop()

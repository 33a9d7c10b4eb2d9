"""Two worker processes sharing a throwaway Redis (AOF, fsync always): a worker killed
with -9, Redis killed and restarted, Redis frozen with SIGSTOP, and the same change
sent to both workers at once. Each test ends by comparing every client's view and
the store with what was acknowledged: nothing lost, nothing duplicated.

Never the machine's shared Redis on 6379: these tests kill and freeze their own.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import OwnRedis, auth, free_port
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


@pytest.fixture
async def pair(tmp_path: Path, own_redis: OwnRedis) -> AsyncIterator[tuple[Worker, Worker]]:
    secret = "secret-" + uuid.uuid4().hex
    workers = [Worker(tmp_path / name, free_port(), secret, redis_url=own_redis.url())
               for name in ("a", "b")]
    await asyncio.gather(*(w.start() for w in workers))
    yield workers[0], workers[1]
    for worker in workers:
        worker.stop()


async def kill_redis(redis: OwnRedis) -> None:
    """kill -9: no shutdown, no final AOF rewrite; what was acknowledged is in the AOF."""
    assert redis.process is not None
    redis.process.send_signal(signal.SIGKILL)
    await asyncio.to_thread(redis.process.wait, 10)
    redis.process = None


def views_for(event: dict[str, Any], a: Worker, b: Worker,
              participants: list[Participant]) -> tuple[list[View], dict[int, str | None]]:
    """Two plenary views (one on each worker) and one room view per participant."""
    views = [View([a.ws_url, b.ws_url], event["id"], event["plenary_token"]).start(),
             View([b.ws_url, a.ws_url], event["id"], event["plenary_token"]).start()]
    room_of_view: dict[int, str | None] = {0: None, 1: None}
    for n, p in enumerate(participants):
        urls = [a.ws_url, b.ws_url] if n % 2 == 0 else [b.ws_url, a.ws_url]
        room_of_view[len(views)] = p.room["id"]
        views.append(View(urls, event["id"], p.room["join_token"]).start())
    return views, room_of_view


async def settle(
    event: dict[str, Any], a: Worker, b: Worker, participants: list[Participant],
    views: list[View], room_of_view: dict[int, str | None],
) -> int:
    final = await event_seq(b.url, event)
    await converge(views, room_of_view, final)
    stored = await stored_items(a.url, event)
    assert stored == await stored_items(b.url, event)  # both workers read the same store
    count = assert_exactly_once(event, participants, stored, views, room_of_view)
    assert final == 1 + count
    for view in views:
        await view.stop()
    return count


async def test_50_participants_through_a_worker_kill_and_a_redis_restart(
    pair: tuple[Worker, Worker], own_redis: OwnRedis,
) -> None:
    """The acceptance run: one worker killed with -9 mid-run, Redis killed and restarted
    (AOF) mid-run; after the clients reconnect and resend, the store and every client's
    view hold each acknowledged item exactly once and nothing that was not submitted."""
    a, b = pair
    event = await create_event(a.url)
    rooms = event["rooms"]
    participants = [Participant([a.url, b.url], event["id"], rooms[n % len(rooms)], f"P{n}")
                    for n in range(50)]
    views, room_of_view = views_for(event, a, b, participants)
    items_each = 8
    acked = lambda: sum(len(p.acknowledged) for p in participants)  # noqa: E731

    async with httpx.AsyncClient(base_url=a.url, timeout=8) as ha, \
            httpx.AsyncClient(base_url=b.url, timeout=8) as hb:
        async def day(n: int, p: Participant) -> None:
            mine = [ha, hb] if n % 2 == 0 else [hb, ha]
            for i in range(items_each):
                await p.submit(mine, f"{p.name} item {i}")

        writing = asyncio.gather(*(day(n, p) for n, p in enumerate(participants)))
        await until(lambda: acked() >= 100)
        a.kill()  # mid-run, no warning: its clients fail over to b
        await until(lambda: acked() >= 200)
        await kill_redis(own_redis)
        await asyncio.sleep(0.5)  # writes fail (503) meanwhile: they are resent
        await own_redis.start()
        await until(lambda: acked() >= 300)
        await a.start()  # back in service: pages may land on it again
        await writing

    assert any(p.failovers for p in participants)
    assert any(503 in p.statuses for p in participants)  # Redis was really away
    count = await settle(event, a, b, participants, views, room_of_view)
    assert count == 50 * items_each


async def test_a_frozen_redis_is_detected_and_recovered_from(
    pair: tuple[Worker, Worker], own_redis: OwnRedis,
) -> None:
    """SIGSTOP: Redis keeps its sockets open and answers nothing. Workers must notice
    (health 503, writes 503 instead of hanging) and recover once it is thawed."""
    a, b = pair
    event = await create_event(a.url)
    rooms = event["rooms"]
    participants = [Participant([a.url, b.url], event["id"], rooms[n % len(rooms)], f"P{n}")
                    for n in range(10)]
    views, room_of_view = views_for(event, a, b, participants[:4])
    acked = lambda: sum(len(p.acknowledged) for p in participants)  # noqa: E731
    async with httpx.AsyncClient(base_url=a.url, timeout=15) as ha, \
            httpx.AsyncClient(base_url=b.url, timeout=15) as hb:
        async def day(p: Participant) -> None:
            for i in range(6):
                await p.submit([ha, hb], f"{p.name} item {i}")

        writing = asyncio.gather(*(day(p) for p in participants))
        await until(lambda: acked() >= 20)
        own_redis.freeze()
        try:
            health = await hb.get("/healthz")
            assert health.status_code == 503  # detected: the store does not answer
        finally:
            own_redis.thaw()
        await writing
        assert (await ha.get("/healthz")).status_code == 200
    await settle(event, a, b, participants, views, room_of_view)


async def test_the_same_change_sent_to_both_workers_at_once_is_stored_once(
    pair: tuple[Worker, Worker],
) -> None:
    a, b = pair
    event = await create_event(a.url)
    room = event["rooms"][0]
    base = f"/api/events/{event['id']}/rooms/{room['id']}/items"
    token = auth(room["join_token"])
    plenary = View([a.ws_url], event["id"], event["plenary_token"]).start()
    ids = []
    async with httpx.AsyncClient(base_url=a.url, timeout=20) as ha, \
            httpx.AsyncClient(base_url=b.url, timeout=20) as hb:
        for n in range(30):
            body = {"id": str(uuid.uuid4()), "text": f"sent twice {n}"}
            ids.append(body["id"])
            one, two = await asyncio.gather(ha.post(base, json=body, headers=token),
                                            hb.post(base, json=body, headers=token))
            assert sorted([one.status_code, two.status_code]) == [200, 201]
            assert one.json() == two.json()
            # The same edit, twice at once: one new version, and both told so.
            edit = {"version": 1, "text": f"edited once {n}"}
            one, two = await asyncio.gather(
                ha.patch(f"{base}/{body['id']}", json=edit, headers=token),
                hb.patch(f"{base}/{body['id']}", json=edit, headers=token))
            assert one.status_code == two.status_code == 200
            assert one.json()["version"] == two.json()["version"] == 2
        for item_id in ids[::3]:
            one, two = await asyncio.gather(ha.delete(f"{base}/{item_id}", headers=token),
                                            hb.delete(f"{base}/{item_id}", headers=token))
            assert one.status_code == two.status_code == 204
    final = await event_seq(a.url, event)
    # event.created, then per item one created and one updated, and the deletions.
    assert final == 1 + 2 * len(ids) + len(ids[::3])
    await plenary.until(final)
    types = [(f["type"], f["data"]["id"]) for f in plenary.frames[1:]]
    assert len(types) == len(set(types))
    stored = await stored_items(b.url, event)
    kept = {i["id"]: i for i in stored[room["id"]]}
    assert set(kept) == set(ids) - set(ids[::3])
    assert all(i["version"] == 2 and i["text"].startswith("edited once") for i in kept.values())
    assert set(kept) == set(plenary.items())
    await plenary.stop()

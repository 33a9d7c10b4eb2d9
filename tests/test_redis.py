"""Many servers, one Redis: every change reaches every stream once, in order, even
across a Redis outage. All against real uvicorn servers and a real redis-server."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from facilitation.broker import RESYNC
from facilitation.broker.redis import RedisBroker
from facilitation.store import channel
from facilitation.store.redis import RedisStore, make_client
from tests.conftest import (
    OwnRedis,
    RedisServer,
    Server,
    auth,
    free_port,
    item_body,
    make_settings,
    new_event,
)
from tests.test_room_page import join, room_path
from tests.test_stream import collect, nothing_more, stream_url

# How long Redis stays down in the outage test. The acceptance run uses 10 seconds
# (REDIS_OUTAGE_SECONDS=10); the suite keeps it short, the behaviour is the same.
OUTAGE_SECONDS = float(os.environ.get("REDIS_OUTAGE_SECONDS", "2"))


async def two_servers(tmp_path: Path, redis_url: str) -> tuple[Server, Server]:
    servers = []
    # Servers behind one load balancer share the secret key (a session cookie set by
    # one is read by the other), as the README's deployment section says.
    secret = "shared-secret-" + uuid.uuid4().hex
    for name in ("a", "b"):
        port = free_port()
        settings = make_settings(tmp_path / name, port, redis_url=redis_url)
        settings = replace(settings, secret_key=secret)
        servers.append(await Server(settings).start())
    return servers[0], servers[1]


@pytest.fixture
async def pair(tmp_path: Path, redis_server: RedisServer) -> AsyncIterator[tuple[Server, Server]]:
    a, b = await two_servers(tmp_path, redis_server.url())
    yield a, b
    await a.stop()
    await b.stop()


async def test_healthz_names_redis(pair: tuple[Server, Server]) -> None:
    async with httpx.AsyncClient(base_url=pair[0].url) as http:
        answer = await http.get("/healthz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "store": "redis", "broker": "redis"}


async def test_two_servers_300_items_reach_every_stream_once_in_order(
    pair: tuple[Server, Server],
) -> None:
    a, b = pair
    async with httpx.AsyncClient(base_url=a.url, timeout=20) as ca, \
            httpx.AsyncClient(base_url=b.url, timeout=20) as cb:
        event = await new_event(ca)
        eid, rooms = event["id"], event["rooms"]
        plenary = {s.url: await connect(stream_url(s, eid), additional_headers=auth(
            event["plenary_token"])) for s in pair}
        room_streams = {(s.url, room["id"]): await connect(
            stream_url(s, eid), additional_headers=auth(room["join_token"]))
            for s in pair for room in rooms}

        async def writer(n: int) -> list[dict[str, Any]]:
            made = []
            for i in range(30):
                http = (ca, cb)[(n + i) % 2]  # alternate between the servers
                room = rooms[(n + i) % len(rooms)]
                answer = await http.post(
                    f"/api/events/{eid}/rooms/{room['id']}/items",
                    json=item_body(f"writer {n} item {i}"), headers=auth(room["join_token"]))
                assert answer.status_code == 201, answer.text
                made.append(answer.json())
            return made

        items = [i for batch in await asyncio.gather(*(writer(n) for n in range(10)))
                 for i in batch]
        assert len(items) == 300

        everything: dict[str, list[dict[str, Any]]] = {}
        for url, ws in plenary.items():
            frames = await collect(ws, 301)
            assert [f["seq"] for f in frames] == list(range(1, 302))
            assert sorted(f["data"]["id"] for f in frames[1:]) == sorted(i["id"] for i in items)
            everything[url] = frames
        assert everything[a.url] == everything[b.url]

        for (_, room_id), ws in room_streams.items():
            expected = [f for f in everything[a.url] if f["room"] in (None, room_id)]
            got = await collect(ws, len(expected))
            assert got == expected  # the same frames, in the same order, once each
        sockets = [*plenary.values(), *room_streams.values()]
        assert all(await asyncio.gather(*(nothing_more(ws) for ws in sockets)))
        for ws in sockets:
            await ws.close()

        # A replay from after=k is exact on either server.
        async def replay(server: Server, k: int) -> None:
            async with connect(stream_url(server, eid, k),
                               additional_headers=auth(event["plenary_token"])) as ws:
                assert await collect(ws, 301 - k) == everything[a.url][k:]
                assert await nothing_more(ws)

        await asyncio.gather(*(replay(server, k) for server, k in (
            (a, 0), (b, 0), (a, 150), (b, 150), (a, 299), (b, 301))))


async def test_a_page_on_one_server_sees_a_change_made_through_the_other(
    pair: tuple[Server, Server],
) -> None:
    a, b = pair
    async with httpx.AsyncClient(base_url=a.url) as ca:
        event = await new_event(ca)
        room = event["rooms"][0]
        # A browser that opened the room's link on server b, and its page's socket there.
        browser = await join(b, {**room, "join_url": room["join_url"].replace(a.url, b.url)})
        cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
        url = f"{b.ws_url}{room_path(event, room)}/live?after=1"
        async with connect(url, additional_headers={"cookie": cookie, "origin": b.url}) as ws:
            body = item_body("Joint exercise calendar <b>not bold</b>")
            answer = await ca.post(f"/api/events/{event['id']}/rooms/{room['id']}/items",
                                   json=body, headers=auth(room["join_token"]))
            assert answer.status_code == 201
            fragment = str(await asyncio.wait_for(ws.recv(), 10))
        await browser.aclose()
    assert f'id="item-{body["id"]}"' in fragment
    assert "&lt;b&gt;not bold&lt;/b&gt;" in fragment  # rendered on b, autoescaped


# -- faults ---------------------------------------------------------------------------


class Reader:
    """A stream client that does what a page does: on any close, reconnect from the
    last seq it saw. It records every frame it was sent."""

    def __init__(self, server: Server, event_id: str, token: str) -> None:
        self.server, self.event_id, self.token = server, event_id, token
        self.frames: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()
        self.closes = 0
        self.task = asyncio.create_task(self._run())

    @property
    def last(self) -> int:
        return self.frames[-1]["seq"] if self.frames else 0

    async def _run(self) -> None:
        while True:
            try:
                async with connect(stream_url(self.server, self.event_id, self.last),
                                   additional_headers=auth(self.token)) as ws:
                    async for raw in ws:
                        self.frames.append(json.loads(raw))
                        self.arrived.set()
            except (ConnectionClosed, InvalidStatus, OSError):
                pass
            self.closes += 1
            await asyncio.sleep(0.1)

    async def until(self, seq: int, within: float = 30) -> None:
        async def wait() -> None:
            while self.last < seq:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(wait(), within)

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


Fault = Callable[[httpx.AsyncClient], Awaitable[None]]


async def writes_through_a_fault(tmp_path: Path, redis_url: str, fault: Fault) -> list[Reader]:
    """Two servers, ten writers alternating between them and four stream readers;
    ``fault`` strikes Redis mid-run. Afterwards every write answered 201 is stored,
    and every stream holds every stored change once, in order. Returns the readers."""
    a, b = await two_servers(tmp_path, redis_url)
    async with httpx.AsyncClient(base_url=a.url, timeout=30) as ca, \
            httpx.AsyncClient(base_url=b.url, timeout=30) as cb:
        event = await new_event(ca)
        eid, rooms = event["id"], event["rooms"]
        readers = [Reader(s, eid, event["plenary_token"]) for s in (a, b)]
        readers += [Reader(s, eid, rooms[0]["join_token"]) for s in (a, b)]
        acknowledged: set[str] = set()  # answered 201
        replayed: set[str] = set()  # answered 200: an earlier, refused try had been stored
        refusals = 0
        stop, progress = asyncio.Event(), asyncio.Event()

        async def acknowledged_at_least(count: int) -> None:
            while len(acknowledged) < count:
                progress.clear()
                await progress.wait()

        async def writer(n: int) -> None:
            nonlocal refusals
            i = 0
            while not stop.is_set():
                http = (ca, cb)[(n + i) % 2]
                room = rooms[(n + i) % len(rooms)]
                body = item_body(f"writer {n} item {i}")
                while True:  # as a page does: the same item again until it is answered
                    answer = await http.post(f"/api/events/{eid}/rooms/{room['id']}/items",
                                             json=body, headers=auth(room["join_token"]))
                    if answer.status_code in (200, 201):
                        break
                    assert answer.status_code == 503, answer.text
                    assert answer.json()["error"]["code"] == "unavailable"
                    refusals += 1
                    await asyncio.sleep(0.1)
                (acknowledged if answer.status_code == 201 else replayed).add(body["id"])
                progress.set()
                i += 1

        writers = [asyncio.create_task(writer(n)) for n in range(10)]
        await acknowledged_at_least(60)
        before = len(acknowledged)
        await fault(cb)
        await asyncio.wait_for(acknowledged_at_least(before + 60), 60)
        stop.set()
        await asyncio.gather(*writers)
        assert refusals > 0  # the fault was real, and writes said so
        posted = acknowledged | replayed

        stored: dict[str, str] = {}
        for room in rooms:
            answer = await cb.get(f"/api/events/{eid}/rooms/{room['id']}",
                                  headers=auth(event["organiser_token"]))
            stored.update({item["id"]: room["id"] for item in answer.json()["items"]})
        assert acknowledged <= set(stored)
        assert set(stored) == posted
        final = (await ca.get(f"/api/events/{eid}", headers=auth(event["organiser_token"]))
                 ).json()["seq"]
        assert final == 1 + len(posted)

        for reader in readers[:2]:  # plenary: every change once, in order
            await reader.until(final)
            assert [f["seq"] for f in reader.frames] == list(range(1, final + 1))
            assert {f["data"]["id"] for f in reader.frames[1:]} == posted
        room_ids = {i for i, r in stored.items() if r == rooms[0]["id"]}
        for reader in readers[2:]:  # a room: its changes once, in order
            await reader.until(max(f["seq"] for f in readers[0].frames
                                   if f["room"] in (None, rooms[0]["id"])))
            seqs = [f["seq"] for f in reader.frames]
            assert seqs == sorted(set(seqs))
            assert {f["data"]["id"] for f in reader.frames[1:]} == room_ids
        for reader in readers:
            await reader.stop()
    await a.stop()
    await b.stop()
    return readers


async def test_redis_outage_mid_run_loses_nothing_acknowledged_and_duplicates_nothing(
    tmp_path: Path, own_redis: OwnRedis,
) -> None:
    async def outage(http: httpx.AsyncClient) -> None:
        await own_redis.stop()  # and its AOF is all it comes back with
        await asyncio.sleep(OUTAGE_SECONDS)
        health = await http.get("/healthz")
        assert health.status_code == 503 and health.json()["store"] == "redis"
        await own_redis.start()

    readers = await writes_through_a_fault(tmp_path, own_redis.url(), outage)
    # Open sockets were closed while Redis was away (pages show "reconnecting").
    assert all(reader.closes >= 1 for reader in readers)


async def test_a_frozen_redis_gets_503s_not_lost_201s(tmp_path: Path, own_redis: OwnRedis) -> None:
    """SIGSTOP: connections stay open and nothing answers (a half-open network looks
    the same). Commands time out (here after 1 s, set in the URL) and writes answer 503."""
    async def freeze(http: httpx.AsyncClient) -> None:
        own_redis.freeze()
        await asyncio.sleep(2)
        health = await http.get("/healthz")
        assert health.status_code == 503
        own_redis.thaw()

    await writes_through_a_fault(
        tmp_path, own_redis.url() + "?socket_timeout=1&socket_connect_timeout=1", freeze)


async def test_broker_gives_up_a_frozen_connection_and_resubscribes(own_redis: OwnRedis) -> None:
    broker = RedisBroker(own_redis.url(), ping_seconds=0.2, timeout_seconds=0.5)
    await broker.connect()
    publisher = make_client(own_redis.url())
    name = channel("frozen-test")
    try:
        async with broker.subscribe(name) as subscription:
            assert broker.connected
            own_redis.freeze()  # the TCP connection stays open; nothing answers
            assert await asyncio.wait_for(subscription.queue.get(), 10) == RESYNC
            own_redis.thaw()
            # Reconnected and subscribed again: told to resync once more, then live.
            assert await asyncio.wait_for(subscription.queue.get(), 10) == RESYNC
            assert broker.connections >= 2
            await publisher.publish(name, b"after")
            assert await asyncio.wait_for(subscription.queue.get(), 10) == b"after"
    finally:
        await publisher.aclose()
        await broker.disconnect()


async def test_serve_with_workers_shares_one_event_through_redis(
    tmp_path: Path, own_redis: OwnRedis,
) -> None:
    """``facilitation serve --workers 2``, as an operator runs it: the demo event is
    made in Redis first, every worker serves the same admin token and event, and a
    change posted to whichever worker answers reaches a stream on whichever serves it."""
    port = free_port()
    env = {**os.environ, "FACILITATION_REDIS_URL": own_redis.url(), "PYTHONUNBUFFERED": "1",
           "FACILITATION_DATA_DIR": str(tmp_path / "data"), "FACILITATION_LOG_LEVEL": "warning"}
    out = (tmp_path / "out.txt").open("w+")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "facilitation.cli", "serve", "--port", str(port), "--workers", "2",
        env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            for _ in range(300):
                try:
                    health = await http.get("/healthz")
                    break
                except httpx.TransportError:
                    assert process.returncode is None, (tmp_path / "out.txt").read_text()
                    await asyncio.sleep(0.1)
            assert health.json() == {"status": "ok", "store": "redis", "broker": "redis"}
            # Standard output is a file here (a log): it says where the admin token is and
            # how to get the demo's links, and holds no token or link itself.
            printed = (tmp_path / "out.txt").read_text()
            assert "A demo event was created" in printed and "facilitation links " in printed
            assert f"{base}/e/" not in printed and "?t=" not in printed
            admin = (tmp_path / "data" / "admin_token").read_text().strip()
            assert admin not in printed and "admin_token" in printed
            # `links` prints them on demand (on Redis, beside the running workers).
            demo = printed.split("facilitation links ", 1)[1].split()[0]
            shown = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "facilitation.cli", "links", demo, env=env,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            links, problem = await asyncio.wait_for(shown.communicate(), 60)
            assert shown.returncode == 0, problem.decode()
            assert f"/e/{demo}/moderate?t=" in links.decode()
            answer = await http.post("/api/events", json={"title": "Workers", "rooms": [
                {"name": "One", "prompt": ""}]}, headers=auth(admin))
            assert answer.status_code == 201, answer.text
            event = answer.json()
            room = event["rooms"][0]
            stream = f"ws://127.0.0.1:{port}/api/events/{event['id']}/stream?after=1"
            async with connect(stream, additional_headers=auth(event["plenary_token"])) as ws:
                ids = []
                for n in range(20):
                    # A new connection each time, so the kernel spreads them over the workers.
                    async with httpx.AsyncClient(base_url=base) as fresh:
                        body = item_body(f"item {n}")
                        made = await fresh.post(
                            f"/api/events/{event['id']}/rooms/{room['id']}/items", json=body,
                            headers=auth(room["join_token"]))
                        assert made.status_code == 201, made.text
                        ids.append(body["id"])
                frames = await collect(ws, 20)
            assert [f["seq"] for f in frames] == list(range(2, 22))
            assert [f["data"]["id"] for f in frames] == ids
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 20)
        out.close()


async def test_a_task_cancelled_while_it_awaits_redis_stops(redis_server: RedisServer) -> None:
    """redis-py can swallow a cancellation inside a command; the store must not: a
    closed socket's sender, cancelled mid-read, would otherwise wait forever."""
    store = RedisStore(redis_server.url())
    try:
        for n in range(100):
            async def read() -> None:
                await store.changes_after("no-such-event", 0, 10)
                await asyncio.sleep(30)  # reached only if the cancellation was lost

            task = asyncio.create_task(read())
            await asyncio.sleep(0.0001 * (n % 20))  # cancel at every stage of the command
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(task, 5)
    finally:
        await store.disconnect()

"""The stream: replay from ``after``, then live, exactly once and in order."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import Server, auth, item_body, open_sockets


def stream_url(server: Server, event_id: str, after: int = 0) -> str:
    return f"{server.ws_url}/api/events/{event_id}/stream?after={after}"


async def collect(ws: ClientConnection, count: int, wait: float = 20) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []

    async def read() -> None:
        while len(frames) < count:
            frames.append(json.loads(await ws.recv()))

    await asyncio.wait_for(read(), wait)
    return frames


async def nothing_more(ws: ClientConnection, wait: float = 0.3) -> bool:
    try:
        extra = await asyncio.wait_for(ws.recv(), wait)
    except TimeoutError:
        return True
    raise AssertionError(f"unexpected frame {extra!r}")


async def post_items(
    client: httpx.AsyncClient, event: dict[str, Any], per_client: int, clients: int
) -> list[dict[str, Any]]:
    rooms = event["rooms"]

    async def writer(n: int) -> list[dict[str, Any]]:
        made = []
        for i in range(per_client):
            room = rooms[(n + i) % len(rooms)]
            answer = await client.post(
                f"/api/events/{event['id']}/rooms/{room['id']}/items",
                json=item_body(f"writer {n} item {i}"), headers=auth(room["join_token"]))
            assert answer.status_code == 201, answer.text
            made.append(answer.json())
        return made

    batches = await asyncio.gather(*(writer(n) for n in range(clients)))
    return [item for batch in batches for item in batch]


async def test_300_items_reach_plenary_and_room_streams_exactly_once_in_order(
    server: Server, client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    eid = event["id"]
    plenary = await connect(stream_url(server, eid), additional_headers=auth(event["plenary_token"]))
    rooms = {
        room["id"]: await connect(stream_url(server, eid), additional_headers=auth(room["join_token"]))
        for room in event["rooms"]
    }
    # The event's own creation is seq 1; the plenary sees it first.
    assert (await collect(plenary, 1))[0]["type"] == "event.created"
    items = await post_items(client, event, per_client=30, clients=10)
    assert len(items) == 300

    frames = await collect(plenary, 300)
    seqs = [f["seq"] for f in frames]
    assert seqs == sorted(seqs) and len(set(seqs)) == 300
    assert sorted(f["data"]["id"] for f in frames) == sorted(i["id"] for i in items)
    assert all(f["type"] == "item.created" for f in frames)
    assert await nothing_more(plenary)

    for room_id, ws in rooms.items():
        expected = sorted(i["id"] for i in items if i["room"] == room_id)
        got = [f for f in await collect(ws, len(expected) + 1) if f["type"] != "event.created"]
        assert [f["seq"] for f in got] == sorted(f["seq"] for f in got)
        assert sorted(f["data"]["id"] for f in got) == expected
        assert {f["room"] for f in got} == {room_id}
        assert await nothing_more(ws)
    for ws in (plenary, *rooms.values()):
        await ws.close()


async def test_after_replays_exactly_the_changes_after_k(
    server: Server, client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    await post_items(client, event, per_client=5, clients=4)
    token = auth(event["plenary_token"])
    async with connect(stream_url(server, event["id"]), additional_headers=token) as ws:
        everything = await collect(ws, 21)
    assert [f["seq"] for f in everything] == list(range(1, 22))
    for k in (0, 1, 7, 20, 21):
        async with connect(stream_url(server, event["id"], k), additional_headers=token) as ws:
            replay = await collect(ws, 21 - k)
            assert replay == everything[k:]
            assert await nothing_more(ws)


async def test_changes_stored_while_connecting_arrive_once(
    server: Server, client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    token = auth(event["plenary_token"])
    writing = asyncio.create_task(post_items(client, event, per_client=20, clients=5))
    sockets = []
    for _ in range(8):
        sockets.append(await connect(stream_url(server, event["id"]), additional_headers=token))
        await asyncio.sleep(0.02)
    await writing
    for ws in sockets:
        frames = await collect(ws, 101)
        assert [f["seq"] for f in frames] == list(range(1, 102))
        assert await nothing_more(ws)
        await ws.close()


async def test_stream_authorisation(server: Server, client: httpx.AsyncClient,
                                    event: dict[str, Any]) -> None:
    import websockets

    for headers, status in (({}, 401), (auth("wrong"), 401)):
        try:
            async with connect(stream_url(server, event["id"]), additional_headers=headers):
                raise AssertionError("accepted")
        except websockets.InvalidStatus as refused:
            assert refused.response.status_code == status
    try:
        async with connect(stream_url(server, "no-such-event"),
                           additional_headers=auth(event["plenary_token"])):
            raise AssertionError("accepted")
    except websockets.InvalidStatus as refused:
        assert refused.response.status_code == 401 or refused.response.status_code == 404


async def test_caught_up_sockets_get_frames_written_directly(
    server: Server, client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    """Once caught up, a socket is fed by the hub's direct write path (no per-socket task)."""
    token = auth(event["plenary_token"])
    async with connect(stream_url(server, event["id"]), additional_headers=token) as ws:
        await collect(ws, 1)
        await post_items(client, event, per_client=1, clients=1)
        await collect(ws, 1)
        listeners = [s for s in await open_sockets(server, event["id"]) if s.view == "json"]
        assert listeners and all(s.direct is not None and s.live for s in listeners)

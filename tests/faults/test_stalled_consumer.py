"""A stalled reader during a burst of 1,000 changes: the others are not delayed, the
stalled one is closed with 1013 and catches up after reconnecting.

The stalled reader is a room page (the page view's fragments are what a frozen
laptop tab would stop reading). Loopback's kernel buffers alone absorb about
2 MB per socket, so the burst carries long texts: enough that the server's
own per-socket bound (50 frames' worth here) is what gives way.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import (
    Server,
    auth,
    free_port,
    item_body,
    make_settings,
    new_event,
    open_sockets,
)
from tests.faults.proxy import Proxy
from tests.test_room_page import join, room_path
from tests.test_stream import collect, stream_url

pytestmark = pytest.mark.slow

BURST = 1000
SEQ = re.compile(r'id="sync-seq"[^>]*data-seq="(\d+)"')
ITEM = re.compile(r'<li id="item-([0-9a-f-]{36})"')


@pytest.fixture
async def small_buffers(tmp_path: Path) -> AsyncIterator[Server]:
    port = free_port()
    running = await Server(make_settings(tmp_path, port, socket_buffer=50)).start()
    yield running
    await running.stop()


async def burst(http: httpx.AsyncClient, event: dict[str, Any], count: int) -> list[str]:
    room = event["rooms"][0]
    url = f"/api/events/{event['id']}/rooms/{room['id']}/items"
    bodies = [item_body(f"burst item {n}: " + "a long paragraph pasted in " * 50)
              for n in range(count)]
    queue = list(bodies)

    async def writer() -> None:
        while queue:
            body = queue.pop()
            answer = await http.post(url, json=body, headers=auth(room["join_token"]))
            assert answer.status_code == 201, answer.text

    await asyncio.gather(*(writer() for _ in range(16)))
    return [b["id"] for b in bodies]


async def read_page(ws: ClientConnection, seqs: list[int], ids: list[str]) -> None:
    """Read page fragments until the socket closes; note their seqs and item ids."""
    while True:
        frame = str(await asyncio.wait_for(ws.recv(), 30))
        seqs.extend(int(s) for s in SEQ.findall(frame))
        ids.extend(ITEM.findall(frame))


async def test_a_stalled_page_never_delays_the_others_and_catches_up(
    small_buffers: Server,
) -> None:
    server = small_buffers
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        event = await new_event(http)
        room = event["rooms"][0]
        token = auth(event["plenary_token"])
        browser = await join(server, room)
        cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
        page_headers = {"cookie": cookie, "origin": server.url}
        proxy = await Proxy(server.settings.port).start()
        page_url = f"{proxy.ws_url}{room_path(event, room)}/live?after=1&epoch={event['epoch']}"
        stalled = await connect(page_url, additional_headers=page_headers, max_queue=4)
        others = [await connect(stream_url(server, event["id"]), additional_headers=token)
                  for _ in range(4)]
        for ws in others:
            await collect(ws, 1)

        proxy.stall_down = True  # the page stops reading; the server's sends to it back up
        readers = [asyncio.create_task(collect(ws, BURST, wait=120)) for ws in others]
        ids = await burst(http, event, BURST)
        # Every other reader gets the whole burst, in order, while the page is stuck.
        for reader in readers:
            frames = await reader
            assert [f["seq"] for f in frames] == list(range(2, BURST + 2))
            assert sorted(f["data"]["id"] for f in frames) == sorted(ids)
        # The server dropped the stalled page (its buffer is bounded); the rest live on.
        listeners = list(await open_sockets(server, event["id"]))
        assert len(listeners) == len(others) and not any(s.overflowed for s in listeners)

        # The page wakes up: it reads what was already on its way, then the close.
        proxy.stall_down = False
        seqs: list[int] = []
        seen: list[str] = []
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await read_page(stalled, seqs, seen)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
        assert seqs == sorted(seqs) and len(set(seen)) == len(seen) < BURST
        # Reconnecting from its last seq fills in the rest: nothing lost, nothing twice.
        resume = f"{proxy.ws_url}{room_path(event, room)}/live?after={seqs[-1]}&epoch={event['epoch']}"
        async with connect(resume, additional_headers=page_headers) as again:
            while len(seen) < BURST:
                frame = str(await asyncio.wait_for(again.recv(), 30))
                seen.extend(ITEM.findall(frame))
        assert sorted(seen) == sorted(ids)
        for ws in others:
            await ws.close()
        await browser.aclose()
        await proxy.stop()


async def test_a_dead_link_is_noticed_by_the_heartbeat(tmp_path: Path) -> None:
    """A half-open connection (no FIN, no RST) is closed by the server's pings."""
    port = free_port()
    server = await Server(make_settings(tmp_path, port, heartbeat_seconds=0.5)).start()
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            event = await new_event(http)
        proxy = await Proxy(port).start()
        ws = await connect(stream_url(proxy, event["id"]),  # type: ignore[arg-type]
                           additional_headers=auth(event["plenary_token"]), ping_interval=None)
        assert json.loads(await ws.recv())["seq"] == 1
        assert len(await open_sockets(server, event["id"])) == 1
        proxy.blackhole = True  # the Wi-Fi is gone: nothing passes, nothing is closed
        for _ in range(100):
            if not await open_sockets(server, event["id"]):
                break
            await asyncio.sleep(0.1)
        assert not await open_sockets(server, event["id"])
        await proxy.stop()
    finally:
        await server.stop()

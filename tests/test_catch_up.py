"""Many sockets reconnecting at once: each gets every change it missed exactly once, in
order, whether the hub has them in memory or reads them from the store, and the
catch-up is shared (one render per change and view, one store read per page)."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from facilitation.hub import EventHub
from tests.conftest import Server, auth
from tests.test_stream import collect, nothing_more, post_items, stream_url


def scope_of(frames: list[dict[str, Any]], room: str | None, after: int) -> list[dict[str, Any]]:
    """What a socket of ``room`` (None: every room) that saw up to ``after`` must get."""
    return [f for f in frames if f["seq"] > after
            and (room is None or f["room"] is None or f["room"] == room)]


async def storm(server: Server, event: dict[str, Any], afters: list[int],
                sockets: int) -> list[tuple[ClientConnection, str | None, int]]:
    """``sockets`` clients connecting at once, as rooms and plenary, from various points."""
    rooms = event["rooms"]

    async def one(n: int) -> tuple[ClientConnection, str | None, int]:
        room = None if n % 5 == 0 else rooms[n % len(rooms)]
        token = event["plenary_token"] if room is None else room["join_token"]
        after = afters[n % len(afters)]
        ws = await connect(stream_url(server, event["id"], after), additional_headers=auth(token),
                           max_queue=None)
        return ws, None if room is None else room["id"], after

    return await asyncio.gather(*(one(n) for n in range(sockets)))


async def check(opened: list[tuple[ClientConnection, str | None, int]],
                everything: list[dict[str, Any]]) -> None:
    async def one(ws: ClientConnection, room: str | None, after: int) -> None:
        want = scope_of(everything, room, after)
        got = await collect(ws, len(want), wait=60)
        assert [f["seq"] for f in got] == [f["seq"] for f in want]
        assert got == want
        assert await nothing_more(ws)
        await ws.close()

    await asyncio.gather(*(one(*o) for o in opened))


def counting_renders(hub: EventHub) -> list[tuple[int, str]]:
    """Record every render the hub makes from now on (change seq, view)."""
    calls: list[tuple[int, str]] = []
    render = hub.render

    def counted(change: Any, board: Any, view: str) -> str | None:
        calls.append((change.seq, view))
        return render(change, board, view)

    hub.render = counted
    return calls


async def test_a_reconnect_storm_is_caught_up_from_memory_with_one_render_per_change(
    server: Server, client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    plenary = await connect(stream_url(server, event["id"]),
                            additional_headers=auth(event["plenary_token"]), max_queue=None)
    await post_items(client, event, per_client=15, clients=4)
    before = await collect(plenary, 61)
    hub = await server.app.state.services.hubs.get(event["id"])
    reads = hub.history.reads
    renders = counting_renders(hub)
    afters = [0, 1, 2, 17, 30, 45, 60, 61]
    # 150 sockets reconnect at once while 12 more changes are written.
    writing = asyncio.create_task(post_items(client, event, per_client=3, clients=4))
    opened = await storm(server, event, afters, 150)
    await writing
    everything = before + await collect(plenary, 12)
    assert [f["seq"] for f in everything] == list(range(1, 74))
    await check(opened, everything)
    # Served from the hub's memory: no store read, and each change encoded once for
    # its view (the new ones as they came; the missed ones were encoded already).
    assert hub.history.reads == reads
    assert sorted(renders) == [(seq, "json") for seq in range(62, 74)]
    await plenary.close()


async def test_a_reconnect_storm_past_the_window_reads_each_store_page_once(
    server: Server, client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    # Written while nobody watches: the event's hub starts with none of it in memory.
    await post_items(client, event, per_client=130, clients=4)
    hub = await server.app.state.services.hubs.get(event["id"])
    assert hub.window.start == 522 and not hub.window.slots
    afters = [0, 1, 3, 250, 499, 500, 510, 521]
    random.shuffle(afters)
    opened = await storm(server, event, afters, 100)
    plenary = await connect(stream_url(server, event["id"]),
                            additional_headers=auth(event["plenary_token"]), max_queue=None)
    everything = await collect(plenary, 521, wait=60)
    assert [f["seq"] for f in everything] == list(range(1, 522))
    await check(opened, everything)
    # Pages (0, 500] and (500, 1000]: one read each, shared by the 101 sockets.
    assert hub.history.reads == 2
    await plenary.close()

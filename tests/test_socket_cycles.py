"""A closed socket is freed by reference counting, not left to the cycle collector.

Every socket that closed used to leave a reference cycle (the scope held the direct
writer and the writer its protocol; the listener held its closer and the closer the
listener; the upgraded HTTP protocol and its parser), with some 125 objects of the
connection hanging on it. Only a full collection freed them: after a few reconnect
storms of 1,000 sockets, one took 750 ms, a pause for every socket and write
(benchmarks/README.md, scenario g). Now a dropped or closed socket leaves none of ours.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from websockets.asyncio.client import connect

from tests.conftest import Server, auth, open_sockets

OURS = {"Listener", "DirectWebSocketProtocol", "DirectWriter", "HeadTimeoutProtocol"}


async def test_closed_and_dropped_sockets_leave_no_cycles(server: Server,
                                                         event: dict[str, Any]) -> None:
    url = f"{server.ws_url}/api/events/{event['id']}/stream?after=0"
    token = event["rooms"][0]["join_token"]
    gc.collect()
    gc.disable()
    try:
        sockets = [await connect(url, additional_headers=auth(token)) for _ in range(6)]
        for _ in range(200):
            if len(await open_sockets(server, event["id"])) >= 6:
                break
            await asyncio.sleep(0.01)
        for n, ws in enumerate(sockets):
            if n % 2:
                await ws.close()
            else:
                ws.transport.abort()  # a Wi-Fi drop: no close frame
        for _ in range(500):
            if not await open_sockets(server, event["id"]):
                break
            await asyncio.sleep(0.01)
        assert not await open_sockets(server, event["id"])
        await asyncio.sleep(0.05)  # the server's handlers finish
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        left = {type(o).__name__ for o in gc.garbage} & OURS
        assert not left, f"closed sockets left reference cycles through {sorted(left)}"
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()

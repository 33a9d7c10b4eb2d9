"""Nothing is lost when the server restarts: the board and the stream come back whole."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

from tests.conftest import Server, auth, free_port, item_body, make_settings, new_event


async def test_a_restart_loses_nothing(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, free_port())
    server = await Server(settings).start()
    async with httpx.AsyncClient(base_url=server.url) as client:
        event = await new_event(client)
        room = event["rooms"][0]
        url = f"/api/events/{event['id']}/rooms/{room['id']}"
        bodies = [item_body(f"item {n}") for n in range(25)]
        for body in bodies:
            assert (await client.post(f"{url}/items", json=body,
                                      headers=auth(room["join_token"]))).status_code == 201
        before = (await client.get(url, headers=auth(room["join_token"]))).json()
    await server.stop()

    server = await Server(settings).start()
    async with httpx.AsyncClient(base_url=server.url) as client:
        after = (await client.get(url, headers=auth(room["join_token"]))).json()
        assert after == before
        # Ids stay idempotent across the restart.
        again = await client.post(f"{url}/items", json=bodies[0], headers=auth(room["join_token"]))
        assert again.status_code == 200
        stream = f"{server.ws_url}/api/events/{event['id']}/stream?after=20"
        async with connect(stream, additional_headers=auth(event["plenary_token"])) as ws:
            frames = [json.loads(await ws.recv()) for _ in range(6)]
        assert [f["seq"] for f in frames] == [21, 22, 23, 24, 25, 26]
    await server.stop()

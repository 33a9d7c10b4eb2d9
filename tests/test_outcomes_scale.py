"""10,000 actions: the export is complete, and the server keeps answering meanwhile.

Every format at this size is timed in benchmarks/export.py (figures in the README).
"""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from typing import Any

import httpx

from facilitation.domain import make_command
from tests.conftest import Server, auth, new_event
from tests.outcomes_fixtures import services_of

ACTIONS = 10_000


async def big_event(client: httpx.AsyncClient, server: Server) -> dict[str, Any]:
    event = await new_event(client, {
        "title": "Big event", "goals": ["Shared picture", "Clear roles"],
        "rooms": [{"name": f"Room {n}", "prompt": "What next?"} for n in range(1, 7)]})
    store = services_of(server).store
    rooms = [r["id"] for r in event["rooms"]]
    commands = [
        make_command("item", "create", str(uuid.uuid4()), rooms[n % 6], {
            "text": f"Action {n}: øvelse 🚢 =SUM(A1)\nsecond line", "owner": f"Owner {n % 40}",
            "due": f"2027-0{1 + n % 9}-1{n % 10}", "goals": ["g1"] if n % 3 else [],
            "status": ("proposed", "agreed", "done")[n % 3], "author": "Kari"})
        for n in range(ACTIONS)
    ]
    # Through the store as the API would, many in flight so the group commit batches them.
    for start in range(0, ACTIONS, 1000):
        await asyncio.gather(*(store.append(event["id"], c) for c in commands[start:start + 1000]))
    return event


async def test_a_big_export_does_not_block_the_server(client: httpx.AsyncClient,
                                                       server: Server) -> None:
    event = await big_event(client, server)
    token = event["organiser_token"]
    answered_during = 0

    async def export(fmt: str) -> httpx.Response:
        async with httpx.AsyncClient(base_url=server.url, timeout=120) as other:
            return await other.get(f"/api/events/{event['id']}/outcomes.{fmt}", headers=auth(token))

    # The slowest format: other requests are answered while it is being made.
    download = asyncio.create_task(export("xlsx"))
    while not download.done():
        health = await client.get("/healthz")
        assert health.status_code == 200
        if not download.done():
            answered_during += 1
        await asyncio.sleep(0.02)
    assert download.result().status_code == 200
    assert answered_during >= 3, answered_during
    answer = await export("csv")
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"), newline="")))
    assert len(rows) == ACTIONS and len({r["id"] for r in rows}) == ACTIONS
    assert all(r["action"].startswith("Action ") for r in rows)

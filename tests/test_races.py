"""Every rule that spans entities holds on two worker processes over one Redis.

Each test fires truly simultaneous requests (tests/workers.py: held on open
connections, released at the same instant) at two real ``uvicorn`` processes
sharing a real Redis, many rounds each. A rule kept in one process's memory (a
lock, a check and then a write across awaits) lets both requests of a round
through; these rules live in the store's atomic append, so exactly one wins.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from itertools import cycle
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import connect

from tests.conftest import RedisServer, auth, item_body, new_event
from tests.workers import Request, Worker, simultaneous

pytestmark = pytest.mark.slow

ROUNDS = 12
# A lost update of a token needs one write to land inside another's read-to-write
# window: fewer rounds than this let a blob rewritten whole pass now and then.
ROTATION_ROUNDS = 75
VOTE_ROUNDS = 25


@pytest.fixture(scope="module")
async def workers(redis_server: RedisServer,
                  tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Worker, Worker]]:
    root: Path = tmp_path_factory.mktemp("races")
    pair = (Worker(root / "a", redis_server.url()), Worker(root / "b", redis_server.url()))
    try:
        await asyncio.gather(*(w.start() for w in pair))
        yield pair
    finally:
        await asyncio.gather(*(w.stop() for w in pair))


async def add_item(http: httpx.AsyncClient, room: dict[str, Any], text: str) -> dict[str, Any]:
    answer = await http.post(f"/api/events/{room['event']}/rooms/{room['id']}/items",
                             json=item_body(text), headers=auth(room["join_token"]))
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


def rooms_of(event: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**room, "event": event["id"]} for room in event["rooms"]]


def room_edits(event: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"id": r["id"], "name": r["name"], "prompt": r["prompt"]} for r in event["rooms"]]


async def test_votes_past_the_budget_are_refused_across_workers(
    workers: tuple[Worker, Worker],
) -> None:
    a, b = workers
    async with httpx.AsyncClient(base_url=a.url, timeout=30) as http:
        event = await new_event(http)
        eid, organiser = event["id"], event["organiser_token"]
        rooms = rooms_of(event)
        items = [await add_item(http, rooms[n % len(rooms)], f"Action {n}") for n in range(4)]
        opened = await http.patch(f"/api/events/{eid}/plenary", headers=auth(organiser),
                                  json={"voting": True, "votes_per_person": 1})
        assert opened.status_code == 200
        for round_ in range(VOTE_ROUNDS):
            voter = f"person-{round_}@example.org"
            # Each worker's own requests it may serialise; the two workers race.
            answers = await simultaneous([
                Request(worker, "POST", f"/api/events/{eid}/votes", organiser,
                        {"item": item["id"], "voter": voter})
                for worker, item in zip(cycle((a, b)), items)],
                lag={1: LAGS[round_ % len(LAGS)], 3: LAGS[round_ % len(LAGS)]})
            assert sorted(x.status for x in answers) == [201, 409, 409, 409], (round_, answers)
            # One vote per person per action: the same vote on both workers is stored once.
            same = await simultaneous([
                Request(worker, "POST", f"/api/events/{eid}/votes", organiser,
                        {"item": items[0]["id"], "voter": f"same-{round_}"})
                for worker in (a, b, a, b)])
            assert sorted(x.status for x in same) == [200, 200, 200, 201], (round_, same)
        state = (await http.get(f"/api/events/{eid}/plenary", headers=auth(organiser))).json()
        assert sum(action["votes"] for action in state["actions"]) == 2 * VOTE_ROUNDS


async def test_two_merges_of_one_item_on_two_workers_one_wins(
    workers: tuple[Worker, Worker],
) -> None:
    a, b = workers
    async with httpx.AsyncClient(base_url=b.url, timeout=30) as http:
        event = await new_event(http)
        eid, organiser = event["id"], event["organiser_token"]
        rooms = rooms_of(event)
        for round_ in range(ROUNDS):
            x, y, z = [await add_item(http, rooms[(round_ + n) % len(rooms)], f"R{round_} {n}")
                       for n in range(3)]
            answers = await simultaneous([
                Request(a, "POST", f"/api/events/{eid}/merges", organiser,
                        {"id": str(uuid.uuid4()), "items": [x["id"], y["id"]]}),
                Request(b, "POST", f"/api/events/{eid}/merges", organiser,
                        {"id": str(uuid.uuid4()), "items": [x["id"], z["id"]]}),
            ])
            assert sorted(x.status for x in answers) == [201, 409], (round_, answers)
        merges = (await http.get(f"/api/events/{eid}/merges", headers=auth(organiser))).json()
        merged = [item for merge in merges for item in merge["items"]]
        assert len(merged) == len(set(merged)) == 2 * ROUNDS  # no item in two joint actions


async def test_two_rotations_of_one_room_while_a_room_is_added(
    workers: tuple[Worker, Worker],
) -> None:
    """Each round: the room's link rotated on both workers and a room added, all at
    once. One token per field: each rotation changes its own token only, none brings
    an old one back, and the new room has its join link."""
    a, b = workers
    async with httpx.AsyncClient(base_url=a.url, timeout=30) as http:
        event = await new_event(http)
        eid, organiser = event["id"], event["organiser_token"]
        room_id = event["rooms"][0]["id"]
        room_path = f"/api/events/{eid}/rooms/{room_id}"
        for round_ in range(ROTATION_ROUNDS):
            before = (await http.get(f"/api/events/{eid}", headers=auth(organiser))).json()
            old = next(r["join_token"] for r in before["rooms"] if r["id"] == room_id)
            # Sockets the old token opened, one on each worker: both must close.
            sockets = [await connect(f"{w.ws_url}/api/events/{eid}/stream?after=0",
                                     additional_headers=auth(old)) for w in (a, b)]
            # A room edit reads less than a rotation before it writes, and how much less
            # depends on the machine's load: over the rounds one side's release lags the
            # other's by 0 to 12 ms (finely below 2 ms), so every overlap is tried.
            answers = await simultaneous([
                Request(a, "POST", f"{room_path}/token", organiser),
                Request(b, "POST", f"{room_path}/token", organiser),
                Request((a, b)[round_ % 2], "PATCH", f"/api/events/{eid}", organiser,
                        {"rooms": [*room_edits(before), {"name": f"Added {round_}"}]}),
            ], lag=lag_for(round_))
            assert [x.status for x in answers] == [200] * 3, (round_, answers)
            rotated = [next(r["join_token"] for r in x.body["rooms"] if r["id"] == room_id)
                       for x in answers[:2]]
            after = (await http.get(f"/api/events/{eid}", headers=auth(organiser))).json()
            tokens = {r["id"]: r["join_token"] for r in after["rooms"]}
            # The last rotation's token stands; neither the old one nor the other comes back.
            assert tokens[room_id] in rotated and tokens[room_id] != old, round_
            assert after["plenary_token"] == before["plenary_token"], round_
            assert (await http.get(room_path, headers=auth(old))).status_code == 401, round_
            for token in {old, *rotated} - {tokens[room_id]}:
                assert (await http.get(room_path, headers=auth(token))).status_code == 401
            assert (await http.get(room_path, headers=auth(tokens[room_id]))).status_code == 200
            # No other room's token changed, and the added room has its own working link.
            for room in before["rooms"]:
                if room["id"] != room_id:
                    assert tokens[room["id"]] == room["join_token"], round_
            added = next(r for r in after["rooms"] if r["name"] == f"Added {round_}")
            assert added["join_token"], round_
            assert (await http.get(f"/api/events/{eid}/rooms/{added['id']}",
                                   headers=auth(added["join_token"]))).status_code == 200
            for ws in sockets:
                assert await closed_with(ws) == 4401, round_


# Seconds by which one side of a round is released later than the other.
# The window a lost update needs is one Redis round trip wide (a tenth of a millisecond
# on an idle machine, several on a loaded one): fine steps below 2 ms, coarser above.
LAGS = (*(n / 10_000 for n in range(21)), 0.003, 0.005, 0.008, 0.012)


def lag_for(round_: int) -> dict[int, float]:
    """The room edit (request 2) later in most rounds; the rotations later in every third."""
    lag = LAGS[round_ % len(LAGS)]
    return {0: lag, 1: lag} if round_ % 3 == 2 else {2: lag}


async def closed_with(ws: Any, wait: float = 10) -> int:
    try:
        while True:
            await asyncio.wait_for(ws.recv(), wait)
    except websockets.ConnectionClosed as closed:
        assert closed.rcvd is not None, "closed without a close frame"
        return int(closed.rcvd.code)


async def test_a_create_racing_a_room_removal_never_orphans_an_item(
    workers: tuple[Worker, Worker],
) -> None:
    a, b = workers
    async with httpx.AsyncClient(base_url=a.url, timeout=30) as http:
        event = await new_event(http)
        eid, organiser = event["id"], event["organiser_token"]
        outcomes = set()
        for round_ in range(ROUNDS):
            base = room_edits(event)
            grown = await http.patch(f"/api/events/{eid}", headers=auth(organiser),
                                     json={"rooms": [*base, {"name": f"Short-lived {round_}"}]})
            assert grown.status_code == 200, grown.text
            room = next(r for r in grown.json()["rooms"] if r["name"] == f"Short-lived {round_}")
            create, remove = await simultaneous([
                Request((a, b)[round_ % 2], "POST", f"/api/events/{eid}/rooms/{room['id']}/items",
                        room["join_token"], item_body(f"Orphan? {round_}")),
                Request((b, a)[round_ % 2], "PATCH", f"/api/events/{eid}", organiser,
                        {"rooms": base}),
            ], lag={round_ % 2: (round_ // 2 % 6) / 1000})  # each first by 0 to 5 ms
            # Exactly one of the two: the item in a room that stays, or the room gone empty.
            assert (create.status == 201) != (remove.status == 200), (round_, create, remove)
            assert create.status in (201, 404) and remove.status in (200, 409), (create, remove)
            outcomes.add(create.status)
            event = (await http.get(f"/api/events/{eid}", headers=auth(organiser))).json()
            kept = any(r["id"] == room["id"] for r in event["rooms"])
            assert kept == (create.status == 201), round_
            if kept:  # the item was first: the room stays, then leaves once emptied
                item = create.body["id"]
                assert (await http.delete(f"/api/events/{eid}/rooms/{room['id']}/items/{item}",
                                          headers=auth(organiser))).status_code == 204
                event = (await http.patch(f"/api/events/{eid}", headers=auth(organiser),
                                          json={"rooms": base})).json()

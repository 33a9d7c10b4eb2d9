"""Part 3 on the Redis backend, with two servers sharing one Redis: locks, merges,
votes and presence agree whichever server a request or a socket lands on."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from websockets.asyncio.client import connect

from facilitation.presence import RedisPresence
from tests.conftest import RedisServer, Server, auth, item_body, new_event
from tests.test_plenary_page import cookie_of
from tests.test_redis import pair  # noqa: F401 - the two-server fixture
from tests.test_room_page import join, room_path


async def test_lock_merge_and_votes_across_two_servers(pair: tuple[Server, Server]) -> None:  # noqa: F811
    a, b = pair
    async with httpx.AsyncClient(base_url=a.url, timeout=20) as ca, \
            httpx.AsyncClient(base_url=b.url, timeout=20) as cb:
        event = await new_event(ca)
        eid = event["id"]
        organiser = auth(event["organiser_token"])
        r0, r1 = event["rooms"][0], event["rooms"][1]
        x = (await ca.post(f"/api/events/{eid}/rooms/{r0['id']}/items",
                           json=item_body("Joint contact list for ports"),
                           headers=auth(r0["join_token"]))).json()
        y = (await cb.post(f"/api/events/{eid}/rooms/{r1['id']}/items",
                           json=item_body("Contact list for port authorities"),
                           headers=auth(r1["join_token"]))).json()
        locked = await ca.post(f"/api/events/{eid}/rooms/{r0['id']}/lock", headers=organiser)
        assert locked.status_code == 200 and locked.json()["locked"] is True
        refused = await cb.post(f"/api/events/{eid}/rooms/{r0['id']}/items", json=item_body(),
                                headers=auth(r0["join_token"]))
        assert refused.status_code == 423
        body = {"id": str(uuid.uuid4()), "items": [x["id"], y["id"]]}
        made = await cb.post(f"/api/events/{eid}/merges", json=body, headers=organiser)
        assert made.status_code == 201 and made.json()["rooms"] == [r0["id"], r1["id"]]
        assert (await ca.post(f"/api/events/{eid}/merges", json=body,
                              headers=organiser)).status_code == 200
        await ca.patch(f"/api/events/{eid}/plenary", json={"voting": True}, headers=organiser)
        for http in (ca, cb, ca):
            await http.post(f"/api/events/{eid}/votes", json={"item": body["id"], "voter": "kari"},
                            headers=organiser)
        state = (await cb.get(f"/api/events/{eid}/plenary", headers=organiser)).json()
        joint = next(act for act in state["actions"] if act["kind"] == "merge")
        assert joint["votes"] == 1 and joint["items"] == [x["id"], y["id"]]
        unlocked = await cb.delete(f"/api/events/{eid}/rooms/{r0['id']}/lock", headers=organiser)
        assert unlocked.json()["locked"] is False


async def test_presence_adds_up_sockets_on_both_servers(pair: tuple[Server, Server]) -> None:  # noqa: F811
    a, b = pair
    async with httpx.AsyncClient(base_url=a.url, timeout=20) as ca:
        event = await new_event(ca)
        room = event["rooms"][2]
        people = [await join(a, room, name="On A"), await join(b, room, name="On B")]
        sockets = []
        for server, person in zip((a, b), people, strict=True):
            url = f"{server.ws_url}{room_path(event, room)}/live?after=0"
            sockets.append(await connect(url, additional_headers={
                "cookie": cookie_of(person), "origin": server.url}))

        async def until(server: Server, n: int) -> None:
            async with httpx.AsyncClient(base_url=server.url) as http:
                while True:
                    answer = await http.get(f"/api/events/{event['id']}/presence",
                                            headers=auth(event["plenary_token"]))
                    if answer.json()["rooms"].get(room["id"], 0) == n:
                        return
                    await asyncio.sleep(0.05)

        await asyncio.wait_for(until(a, 2), 5)
        await asyncio.wait_for(until(b, 2), 5)
        await sockets[1].close()  # the tab on server B closes
        await asyncio.wait_for(until(a, 1), 5)
        await sockets[0].close()
        await asyncio.wait_for(until(b, 0), 5)
        for person in people:
            await person.aclose()


async def test_a_dead_workers_presence_expires(redis_server: RedisServer) -> None:
    event_id = "presence-test-" + uuid.uuid4().hex
    alive, dying = RedisPresence(redis_server.url(), ttl=0.6), RedisPresence(redis_server.url(), ttl=0.6)
    await alive.start()
    await dying.start()
    try:
        await alive.enter(event_id, "room-1", "kari")
        await dying.enter(event_id, "room-1", "ola")
        await dying.enter(event_id, "room-2", "ola")
        assert await alive.counts(event_id) == {"room-1": 2, "room-2": 1}
        # A worker that dies without leaving: its refresher stops, its hash expires.
        assert dying._refresher is not None
        dying._refresher.cancel()

        async def until_gone() -> None:
            while await alive.counts(event_id) != {"room-1": 1}:  # noqa: ASYNC110 - Redis TTL
                await asyncio.sleep(0.05)

        await asyncio.wait_for(until_gone(), 5)
    finally:
        await alive.leave(event_id, "room-1", "kari")
        await alive.stop()
        await dying.stop()

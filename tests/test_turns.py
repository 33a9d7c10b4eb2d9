"""Handshakes take turns with everything else on the loop (web/turns.py).

A reconnect storm's handshakes each run in one step of their task; without turns, a
write that arrived meanwhile waited behind all of them (in scenario g, a single loop
turn of 590 ms). Here: at most ``per_turn`` handshakes go on per turn, first come
first, so a write's step runs after a few of them; and the garbage collector waits
while a storm lasts, and is always given back.
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

from facilitation.web import turns
from facilitation.web.turns import GarbageHold, SocketTurns, Turns


@pytest.fixture(autouse=True)
def collector_enabled() -> Iterator[None]:
    assert gc.isenabled()
    yield
    gc.enable()


async def test_at_most_per_turn_handshakes_go_on_per_loop_turn_in_order() -> None:
    gate = Turns(per_turn=3)
    order: list[tuple[str, int]] = []
    turn = 0

    async def count_turns() -> None:
        nonlocal turn
        while True:
            await asyncio.sleep(0)
            turn += 1

    async def handshake(n: int) -> None:
        await gate.wait()
        order.append((f"socket {n}", turn))

    async def write() -> None:
        await asyncio.sleep(0)  # arrives a step after the storm
        order.append(("write", turn))

    counter = asyncio.create_task(count_turns())
    storm = [asyncio.create_task(handshake(n)) for n in range(12)]
    writer = asyncio.create_task(write())
    await asyncio.gather(*storm, writer)
    counter.cancel()

    sockets = [(name, t) for name, t in order if name != "write"]
    assert [name for name, _ in sockets] == [f"socket {n}" for n in range(12)]
    per_turn: dict[int, int] = {}
    for _, t in sockets:
        per_turn[t] = per_turn.get(t, 0) + 1
    assert max(per_turn.values()) <= 3
    # The write did not wait for the whole storm to pass.
    assert [name for name, _ in order].index("write") < 6


async def test_a_handshake_that_is_cancelled_while_waiting_gives_its_turn_away() -> None:
    gate = Turns(per_turn=1)
    await gate.wait()
    waiting = asyncio.create_task(gate.wait())
    later = asyncio.create_task(gate.wait())
    await asyncio.sleep(0)
    waiting.cancel()
    await asyncio.wait_for(later, 1)


async def test_the_collector_waits_during_a_storm_and_comes_back_after(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(turns, "STORM_S", 0.2)
    hold = GarbageHold()
    for _ in range(turns.STORM - 1):
        hold.handshake()
    assert gc.isenabled()  # a trickle is not a storm
    hold.handshake()
    assert not gc.isenabled()
    hold._check()  # handshakes still coming (the last one just now): held
    assert not gc.isenabled()
    hold._last -= 1.0  # none for a while: the storm has passed
    hold._check()
    assert gc.isenabled()
    # And by the clock: held again by the next storm, given back once it passes.
    for _ in range(turns.STORM):
        hold.handshake()
    assert not gc.isenabled()
    for _ in range(250):
        if gc.isenabled():
            break
        await asyncio.sleep(0.02)
    assert gc.isenabled()


async def test_a_flood_that_never_ends_still_has_the_collector_back() -> None:
    hold = GarbageHold()
    for _ in range(turns.STORM):
        hold.handshake()
    assert not gc.isenabled()
    assert hold._held_at is not None
    hold._held_at -= turns.GC_HOLD_S + 1  # held that long, handshakes still coming
    hold.handshake()
    hold._check()
    assert gc.isenabled()


async def test_a_collector_disabled_by_someone_else_is_left_alone() -> None:
    gc.disable()
    hold = GarbageHold()
    for _ in range(turns.STORM * 2):
        hold.handshake()
    hold.release()
    assert not gc.isenabled()


async def test_the_collector_is_given_back_when_the_server_stops() -> None:
    async def app(scope: object, receive: object, send: object) -> None:
        for _ in range(turns.STORM):
            middleware.turns.gc.handshake()
        assert not gc.isenabled()

    middleware = SocketTurns(app)  # type: ignore[arg-type]
    await middleware({"type": "lifespan"}, None, None)  # type: ignore[arg-type]
    assert gc.isenabled()


async def test_a_storm_is_frozen_after_it_passes_and_given_back_by_a_full_collection() -> None:
    class Node:
        other: object = None

    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle made during the storm, then dropped
    hold = GarbageHold()
    for _ in range(turns.STORM):
        hold.handshake()
    frozen_before = gc.get_freeze_count()
    hold._last -= 1.0  # the storm has passed
    hold._check()
    assert gc.isenabled()
    assert gc.get_freeze_count() > frozen_before  # frozen, not walked
    probe = weakref.ref(a)
    del a, b
    assert probe() is not None  # a frozen cycle waits for the next full collection
    gc.collect()  # which gives the frozen objects back first
    assert gc.get_freeze_count() == 0
    assert probe() is None

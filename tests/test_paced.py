"""Responses made of many fragments free the event loop while they render (issue 18)."""

from __future__ import annotations

import asyncio
import time

from facilitation.web import handling


async def test_paced_renders_in_turns_and_keeps_every_part_in_order() -> None:
    def slow(n: int) -> str:
        time.sleep(0.002)  # a fragment rendered for the first time
        return f"<li>{n}</li>"

    others: list[float] = []

    async def everyone_else() -> None:
        while True:
            others.append(time.perf_counter())
            await asyncio.sleep(0)

    beside = asyncio.create_task(everyone_else())
    await asyncio.sleep(0)
    started = len(others)
    chunks = [c async for c in handling.paced([lambda n=n: slow(n) for n in range(40)])]
    beside.cancel()
    assert b"".join(chunks).decode() == "".join(f"<li>{n}</li>" for n in range(40))
    # 80 ms of rendering in turns of at most ~render.PIECE_SECONDS: the loop ran between them.
    assert len(chunks) >= 10
    assert len(others) - started >= 10


async def test_a_page_does_not_wait_for_a_flood_of_comparisons() -> None:
    """A page's short wait for the duplicate comparisons (follow.settle) returns at once
    when a flood left more to compare than that wait could see done."""
    from facilitation import follow
    from tests.test_similarity import Events

    ev = Events()
    follow.models(ev.board)
    for n in range(follow.BACKLOG + 30):
        ev.item(f"r{n % 3}", f"Set up a joint contact list number {n} for the ports and towns")
    started = time.perf_counter()
    assert not await follow.settle(ev.board)
    assert time.perf_counter() - started < follow.SETTLE_SECONDS / 2
    assert await follow.settle(ev.board, wait=30)  # the work goes on meanwhile


def test_a_long_list_is_joined_in_parts_and_a_page_cut_by_time() -> None:
    """A room of many kept items is put into the page a few at a time (render.joined),
    so the page's pieces can end between them; and a piece ends after PIECE_SECONDS of
    rendering, not only after PIECE characters (new items cost far more than kept ones)."""
    from facilitation import render

    parts = list(render.joined(f"<li>{n}</li>" for n in range(100)))
    assert len(parts) == 4 and "".join(p.html for p in parts) == "".join(
        f"<li>{n}</li>" for n in range(100))
    renderer = render.Renderer()
    slow_parts = 0

    def slow(n: int) -> str:
        nonlocal slow_parts
        slow_parts += 1
        time.sleep(0.002)
        return f"<li>{n}</li>"

    template = renderer.env.from_string("{% for part in parts %}{{ part }}{% endfor %}")
    renderer.env.get_template = lambda name: template  # type: ignore[method-assign]
    pieces = list(renderer.pieces("x", parts=render.joined((slow(n) for n in range(200)), 8)))
    assert "".join(pieces) == "".join(f"<li>{n}</li>" for n in range(200))
    assert len(pieces) >= 10  # 0.4 s of rendering, 2.5 KB in all: cut by time

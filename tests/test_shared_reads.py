"""``NextFlight``: requests of the same moment share one read of Redis, and none is
answered from a read that began before it asked (a write acknowledged before a
request, on any worker, is always seen by it)."""

from __future__ import annotations

import asyncio

import pytest

from facilitation.store.flight import NextFlight


class Source:
    """A value that the test changes, read with a delay like a round trip."""

    def __init__(self) -> None:
        self.value = 0
        self.reads = 0
        self.fail = False
        self.began = asyncio.Event()

    async def read(self) -> int:
        self.reads += 1
        self.began.set()
        seen = self.value  # what the store holds when the read reaches it
        await asyncio.sleep(0.01)
        if self.fail:
            raise ConnectionError("down")
        return seen


async def test_callers_of_the_same_moment_share_one_read() -> None:
    source = Source()
    flight = NextFlight(source.read)
    answers = await asyncio.gather(*(flight() for _ in range(1000)))
    assert answers == [0] * 1000
    assert source.reads == 1


async def test_a_caller_never_gets_a_read_that_began_before_it_asked() -> None:
    source = Source()
    flight = NextFlight(source.read)
    first = asyncio.ensure_future(flight())
    await source.began.wait()  # the first read is under way: it has seen 0
    source.value = 1  # a write acknowledged now...
    late = [asyncio.ensure_future(flight()) for _ in range(100)]  # ...then these ask
    assert await first == 0
    assert await asyncio.gather(*late) == [1] * 100  # one more read, shared
    assert source.reads == 2


async def test_a_failure_is_shared_and_the_next_caller_reads_again() -> None:
    source = Source()
    flight = NextFlight(source.read)
    source.fail = True
    outcomes = await asyncio.gather(*(flight() for _ in range(50)), return_exceptions=True)
    assert all(isinstance(o, ConnectionError) for o in outcomes)
    assert source.reads == 1
    source.fail = False
    assert await flight() == 0
    assert source.reads == 2


async def test_a_caller_that_gives_up_stops_nobody_elses_read() -> None:
    source = Source()
    flight = NextFlight(source.read)
    first = asyncio.ensure_future(flight())
    also = asyncio.ensure_future(flight())
    await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await also == 0
    assert source.reads == 1

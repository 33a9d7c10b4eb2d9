"""One read shared by every caller that asked while it could not yet have begun.

Every request and every socket handshake on a worker brings the event's board and
tokens up to date with Redis (``RedisStore.view``). When a Wi-Fi blip brings five
thousand sockets back in the same second, that was five thousand round trips
queued on a 64-connection pool, each parsed by this one event loop, while the
answers were almost all the same. ``NextFlight`` makes them a handful: callers
that arrive while a read is under way wait for the *next* read, which begins
after all of them arrived, and share its answer.

Waiting for the next read, never joining the one under way, is what keeps every
answer fresh: a read that began before a caller arrived may predate a write that
was acknowledged before that caller asked (on this worker or another), or a token
rotation. A read that began after the caller arrived cannot.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class NextFlight(Generic[T]):
    """``await flight()``: the answer of a call of ``fetch`` that began after this
    call did; the callers of the same moment share one call, and are all woken in
    the same loop turn when it ends. A failure is shared like an answer (when Redis
    is down, a thousand callers wait one timeout, not a thousand). The call runs in
    its own task: a caller that gives up (a socket closed meanwhile) stops nobody
    else's read."""

    def __init__(self, fetch: Callable[[], Awaitable[T]]) -> None:
        self.fetch = fetch
        self._current: asyncio.Future[T] | None = None  # the call under way (or the last)
        self._next: asyncio.Future[T] | None = None  # the call that begins when it ends
        self.calls = 0  # how many times fetch ran (the tests count them)

    async def __call__(self) -> T:
        if self._next is None:
            self._next = asyncio.ensure_future(self._after(self._current))
            self._next.add_done_callback(_retrieve)
        return await asyncio.shield(self._next)

    async def _after(self, previous: asyncio.Future[T] | None) -> T:
        if previous is not None:
            with contextlib.suppress(BaseException):  # its outcome is its own callers'
                await previous
        # From here on, whoever asks waits for the call after this one: this call
        # begins now, after every caller that is sharing it arrived.
        self._current, self._next = self._next, None
        self.calls += 1
        return await self.fetch()


def _retrieve(task: asyncio.Future[Any]) -> None:
    # Every caller may have given up: the failure was still seen (no "never retrieved").
    if not task.cancelled():
        task.exception()

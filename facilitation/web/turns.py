"""Websocket handshakes take turns with everything else on the event loop.

When the venue's Wi-Fi comes back, a thousand sockets reconnect in the same second.
Each handshake's work in the app (the middlewares, the token check, the accept, the
catch-up write) runs in one step of its task, and the loop runs every step that is
ready, in order, before it looks at anything that arrived since. A write that
arrives then waited behind the whole storm at each of its own steps (its start, the
store's answer): acks of 200-600 ms at 20 writes/s while 1,000 screens reconnected
(benchmarks/README.md, scenario g).

Here, at most ``PER_TURN`` handshakes start per turn of the loop; the others wait,
in the order they came, for the next turns. The storm's work is the same and still
runs back to back, but each turn is short, so a write's steps (and anything else
ready) get theirs after at most ``PER_TURN`` handshakes instead of after all of them.

During a storm (``STORM`` handshakes within ``STORM_S``), the cyclic garbage
collector waits. A storm of 1,000 sockets makes some 150,000 objects that live as
long as their sockets (uvicorn's, Starlette's and the websockets library's, per
connection); the collector walked them in young collections of 2-94 ms in the middle
of the storm, 230 ms of its 900 (measured in the server during scenario g), and now
and then in a full collection of 270-450 ms. Held, it walks them once, right after
the storm. Memory is not at stake: what it defers is a storm's worth of garbage, for
at most ``GC_HOLD_S`` at a time.

Once the storm has passed, its objects are frozen (``gc.freeze``) rather than walked:
that one walk took 70-140 ms right after each storm, and a write arriving then waited
for all of it (writes' ack p99 103-124 ms in scenario g with the writers in their own
generator process). The sockets' objects live as long as the sockets; walking them
young would only promote them. Frozen objects are still freed by reference counting;
what a frozen cycle holds is freed at the next full collection, which first gives
every frozen object back to the oldest generation (``_unfreeze_before_full``), so no
garbage is kept longer than a full collection's period.
"""

from __future__ import annotations

import asyncio
import gc
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

# Handshakes started per loop turn: each costs the app about 0.3-0.5 ms on a 2-core
# machine, so a write waits at most a few milliseconds per step behind a storm.
PER_TURN = 8
# A storm: this many handshakes within STORM_S seconds (a venue's Wi-Fi coming back),
# never the steady trickle of people arriving. It has passed once STORM_S goes by
# without a handshake.
STORM = 50
STORM_S = 0.25
# The longest the collector waits for a storm to pass: under a flood of handshakes
# that never ends, it still runs at least this often.
GC_HOLD_S = 5.0

# Whether a storm froze objects that the next full collection must give back first.
_storm_frozen = False


def _unfreeze_before_full(phase: str, info: dict[str, int]) -> None:
    """A ``gc.callbacks`` hook: before a full collection, give the storms' frozen objects
    (and the start-up ones frozen with them; app.py) back to the oldest generation, so
    that cycles among them are collected. Moving them is O(1); the walk is the full
    collection's, which would have walked them anyway once promoted."""
    global _storm_frozen
    if _storm_frozen and phase == "start" and info.get("generation") == 2:
        _storm_frozen = False
        gc.unfreeze()


def _freeze_storm() -> None:
    global _storm_frozen
    if _unfreeze_before_full not in gc.callbacks:
        gc.callbacks.append(_unfreeze_before_full)
    gc.freeze()
    _storm_frozen = True


class Turns:
    """At most ``per_turn`` callers of ``wait`` go on per loop turn, first come first."""

    def __init__(self, per_turn: int = PER_TURN) -> None:
        self.per_turn = per_turn
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._passed = 0  # callers let through in this turn
        self._ticking = False
        self.gc = GarbageHold()

    async def wait(self) -> None:
        self.gc.handshake()
        if self._passed < self.per_turn and not self._waiting:
            self._passed += 1
            self._tick()
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        self._tick()
        # Cancelled (the server stops): the future is cancelled with it and skipped.
        await future

    def _tick(self) -> None:
        # The next turn: callbacks scheduled now run after everything already ready.
        if not self._ticking:
            self._ticking = True
            asyncio.get_running_loop().call_soon(self._turn)

    def _turn(self) -> None:
        self._ticking = False
        self._passed = 0
        while self._waiting and self._passed < self.per_turn:
            future = self._waiting.popleft()
            if not future.done():
                future.set_result(None)
                self._passed += 1
        if self._waiting or self._passed:
            self._tick()


class GarbageHold:
    """Holds the cyclic garbage collector while a storm of handshakes lasts."""

    def __init__(self) -> None:
        self._window_start = 0.0
        self._count = 0  # handshakes since _window_start
        self._last = 0.0  # the latest handshake
        self._held_at: float | None = None  # when this process's collector was held
        self._timer: asyncio.TimerHandle | None = None

    def handshake(self) -> None:
        loop = asyncio.get_running_loop()
        now = self._last = loop.time()
        if now - self._window_start > STORM_S:
            self._window_start, self._count = now, 0
        self._count += 1
        if self._count >= STORM and self._held_at is None and gc.isenabled():
            gc.disable()
            self._held_at = now
            self._timer = loop.call_later(STORM_S, self._check)

    def _check(self) -> None:
        assert self._held_at is not None
        loop = asyncio.get_running_loop()
        now = loop.time()
        if now - self._last < STORM_S and now - self._held_at < GC_HOLD_S:
            self._timer = loop.call_later(STORM_S, self._check)
            return
        self.release(freeze=True)
        self._window_start, self._count = now, 0

    def release(self, freeze: bool = False) -> None:
        """The collector back (the storm passed, or the server stops); with `freeze`,
        the storm's objects are frozen first instead of walked (see the module doc)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._held_at is not None:
            self._held_at = None
            if freeze:
                _freeze_storm()
            gc.enable()


class SocketTurns:
    """The ASGI middleware: every websocket handshake waits for its turn, first thing."""

    def __init__(self, app: ASGIApp, per_turn: int = PER_TURN) -> None:
        self.app = app
        self.turns = Turns(per_turn)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self.turns.wait()
        elif scope["type"] == "lifespan":
            try:
                await self.app(scope, receive, send)
            finally:
                self.turns.gc.release()  # never left held by a server that stopped
            return
        await self.app(scope, receive, send)

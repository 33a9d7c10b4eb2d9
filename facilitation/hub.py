"""Per-worker fan-out: one broker subscription and one encoding per change, per event.

A worker holds one ``EventHub`` for each event that has open sockets on it. The
hub reads the event's broker channel, keeps the event's board current, fills any
gap in the sequence from the store (pub/sub is at-most-once), encodes each
change once per view that someone is watching, and writes the same bytes to
every local socket of the change's room (and to those that see every room).
Sockets never subscribe to the broker themselves, and never read the store on
their own: a socket that (re)connects is caught up from the hub's window of
recent changes, or past it from store pages the hub reads once for everyone
(``replay.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from facilitation.access import still_valid
from facilitation.broker import RESYNC
from facilitation.domain import ACCESS, Board, Change
from facilitation.replay import PAGE, WINDOW, History, Slot, Window, page_end, visible
from facilitation.store import channel
from facilitation.wsproto import DirectWriter, text_frame

if TYPE_CHECKING:
    from facilitation.access import Access
    from facilitation.broker import Broker
    from facilitation.store import Store

log = logging.getLogger("facilitation.hub")

# The close code of a socket whose token was rotated (an application code: the
# page reloads, and the server tells the person their link is no longer valid).
CLOSE_REVOKED = 4401
# The other close codes the pages understand (see static/app.js).
CLOSE_SERVICE_RESTART = 1012
CLOSE_TRY_AGAIN = 1013

# A render function: (change, board after it, view) -> frame text, or None to send nothing.
Render = Callable[[Change, Board, str], "str | None"]
# A heartbeat: (view, the socket's last seq) -> frame text, or None for views without one.
Beat = Callable[[str, int], "str | None"]


@dataclass(eq=False)
class Listener:
    """One open socket's place in a hub: what it may see and how far it has got."""

    view: str
    room: str | None  # None: every room (plenary, organiser)
    last: int  # highest seq this socket has been sent (or skipped as not its business)
    limit: int = 1000
    # When the server offers direct writes, the hub writes encoded frames straight to
    # the socket's transport once it has caught up, beats it when the link is quiet
    # and closes it: the socket needs no task of its own.
    direct: DirectWriter | None = None
    # Caught up: the hub sends it each change as it comes (directly, or by waking its pump).
    live: bool = False
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    overflowed: bool = False
    closed_reason: str = ""
    close_code: int = CLOSE_SERVICE_RESTART  # the page reconnects
    # Who opened the socket: checked again whenever a token of the event is rotated.
    access: Access | None = None
    # How the stream closes this socket (set by live.stream), at once: a close must
    # never wait behind a send that is stuck on a full buffer.
    closer: Callable[[int, str], None] | None = None

    @property
    def max_backlog(self) -> int:
        # The direct path's bound, in bytes: ``limit`` frames of a generous 2 KiB.
        return self.limit * 2048

    def may_see(self, change: Change) -> bool:
        return self.room is None or change.room is None or change.room == self.room

    def write(self, seq: int, frame: bytes) -> None:
        """The direct path: no task, no queue, the same bytes for every socket."""
        assert self.direct is not None
        if self.direct.backlog() > self.max_backlog:
            self.overflow()
        elif self.direct.write(frame):
            self.last = seq

    def overflow(self) -> None:
        # Too far behind: stop sending; the socket is closed and the page catches
        # up when it reconnects.
        self.overflowed = True
        self.close("too far behind; reconnect to catch up", CLOSE_TRY_AGAIN)

    def close(self, reason: str, code: int = CLOSE_SERVICE_RESTART) -> None:
        """Send nothing more and close the socket; the first reason given stands."""
        if self.closed_reason:
            return
        self.closed_reason = reason
        self.close_code = code
        self.live = False
        self.wakeup.set()
        if self.closer is not None:
            self.closer(code, reason)

    def revoke(self) -> None:
        """The token behind this socket was rotated: send nothing more, close (4401)."""
        self.close("access revoked", CLOSE_REVOKED)

    @property
    def revoked(self) -> bool:
        return self.close_code == CLOSE_REVOKED


# How a socket without a direct writer is sent frames (awaited, in order).
Send = Callable[[list[bytes]], Awaitable[None]]


class EventHub:
    def __init__(self, event_id: str, store: Store, broker: Broker, render: Render,
                 beat: Beat | None = None, beat_seconds: float = 20.0,
                 window: int = WINDOW) -> None:
        self.event_id = event_id
        self.store = store
        self.broker = broker
        self.render = render
        self.beat = beat
        self.beat_seconds = beat_seconds
        self._beat_timer: asyncio.TimerHandle | None = None
        self.listeners: set[Listener] = set()
        # Room (None: sockets that see every room) -> view -> its sockets: a change
        # visits its own room's sockets and the every-room ones, never the others.
        self._rooms: dict[str | None, dict[str, set[Listener]]] = {}
        self.board = Board(event_id)
        self.window = Window(1, window)
        self.history = History(lambda after, limit: store.changes_after(event_id, after, limit))
        self.ready = asyncio.Event()
        self.stopped = False
        self.failed: BaseException | None = None
        self._task: asyncio.Task[None] | None = None
        self._catching_up = asyncio.Lock()
        self._rechecks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"hub-{self.event_id}")
        ready = asyncio.create_task(self.ready.wait())
        await asyncio.wait({ready, self._task}, return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        if not self.ready.is_set():
            raise self.failed or RuntimeError("hub stopped before it was ready")
        if self.beat is not None:
            self._beat_timer = asyncio.get_running_loop().call_later(
                self.beat_seconds, self._heartbeat)

    def add(self, listener: Listener) -> None:
        self.listeners.add(listener)
        self._rooms.setdefault(listener.room, {}).setdefault(listener.view, set()).add(listener)

    def remove(self, listener: Listener) -> None:
        self.listeners.discard(listener)
        views = self._rooms.get(listener.room)
        if views is None:
            return
        members = views.get(listener.view)
        if members is not None:
            members.discard(listener)
            if not members:
                del views[listener.view]
        if not views:
            del self._rooms[listener.room]

    def _heartbeat(self) -> None:
        """Every live page gets its resume marker again: browsers never show a
        websocket ping to scripts, so this is how a page tells a quiet link from
        a dead one. One timer per hub, not one per socket."""
        assert self.beat is not None
        self._beat_timer = asyncio.get_running_loop().call_later(
            self.beat_seconds, self._heartbeat)
        encoded: dict[tuple[str, int], bytes | None] = {}
        for listener in self.listeners:
            if not listener.live or listener.direct is None:
                continue  # a socket still catching up, or on its own pump, beats itself
            key = (listener.view, listener.last)
            if key not in encoded:
                frame = self.beat(*key)
                encoded[key] = None if frame is None else text_frame(frame)
            beat = encoded[key]
            if beat is not None:
                listener.direct.write(beat)

    async def stop(self) -> None:
        self.stopped = True
        if self._beat_timer is not None:
            self._beat_timer.cancel()
        for task in list(self._rechecks):
            task.cancel()
        self.history.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        for listener in list(self.listeners):
            listener.close("server stopping")

    async def _run(self) -> None:
        try:
            async with self.broker.subscribe(channel(self.event_id)) as subscription:
                # Subscribe first, then read the board: a change stored in between
                # arrives on the subscription and is skipped or applied by seq.
                board = await self.store.board(self.event_id)
                if board is None:
                    raise LookupError(f"unknown event {self.event_id}")
                self.board = board
                self.window = Window(board.seq + 1, self.window.size)
                self.ready.set()
                async for message in subscription:
                    if message == RESYNC:
                        await self._catch_up()
                        continue
                    change = message if isinstance(message, Change) else Change.from_json(message)
                    if change.seq <= self.board.seq:
                        continue  # already delivered (a duplicate or a gap fill got it)
                    if change.seq > self.board.seq + 1:
                        await self._catch_up()
                        if change.seq <= self.board.seq:
                            continue
                    self._deliver(change)
        except asyncio.CancelledError:
            raise
        except BaseException as error:
            self.failed = error
            log.exception("hub for event %s stopped", self.event_id)
            for listener in list(self.listeners):
                listener.close("hub failed")
            raise

    async def _catch_up(self) -> None:
        """Fill a gap from the store; retried until the store answers."""
        delay = 0.05
        while True:
            try:
                await self.refresh()
                return
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the store is down; keep trying
                log.warning("event %s: store unavailable while catching up", self.event_id)
                # Sockets cannot be kept exact meanwhile: close them, so pages show
                # that they are reconnecting and catch up from the store when it is back.
                for listener in list(self.listeners):
                    listener.close("store unavailable")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def refresh(self) -> None:
        """Deliver whatever the store holds beyond this hub's board, once (a gap in
        the broker's messages, or a resync after the broker lost its connection)."""
        async with self._catching_up:
            while True:
                missed = await self.store.changes_after(self.event_id, self.board.seq, PAGE)
                for change in missed:
                    self._deliver(change)
                if len(missed) < PAGE:
                    return

    def _encode(self, slot: Slot, view: str) -> bytes | None:
        """A change's frame for one view, rendered and encoded once, then kept with it."""
        frames = slot.frames
        if view in frames:
            return frames[view]
        try:
            text = self.render(slot.change, self.board, view)
        except Exception:  # noqa: BLE001 - one bad render must not stop the stream
            log.exception("render of change %s for %s failed", slot.change.seq, view)
            text = None
        frame = frames[view] = None if text is None else text_frame(text)
        return frame

    def _deliver(self, change: Change) -> None:
        if change.seq <= self.board.seq:
            return  # a gap fill and the broker both brought it: deliver once
        self.board.apply(change)
        slot = self.window.add(change)
        if change.room is None:
            groups = list(self._rooms.values())
        else:
            groups = [g for g in (self._rooms.get(change.room), self._rooms.get(None)) if g]
        for views in groups:
            for view, members in list(views.items()):
                frame: bytes | None = None
                for listener in list(members):
                    if not listener.live:
                        continue  # catching up: it takes this change from the window
                    if listener.direct is None:
                        listener.wakeup.set()  # its pump reads the window
                        continue
                    if change.seq <= listener.last:
                        continue
                    if frame is None:
                        frame = self._encode(slot, view)
                        if frame is None:
                            break  # nothing for this view
                    listener.write(change.seq, frame)
        if change.kind == ACCESS:
            # A token was rotated (on any worker): its sockets here end at once.
            task = asyncio.create_task(self.revoke_stale())
            self._rechecks.add(task)
            task.add_done_callback(self._rechecks.discard)

    async def catch_up(self, listener: Listener, send: Send | None = None) -> None:
        """Send the socket every change after ``listener.last`` up to the hub's board.

        Past the window, from store pages shared with every socket that needs them;
        then, from the window, with no await in between: a direct socket is live
        from the same loop turn on, so no change can fall between the two. Without
        a direct writer, ``send`` awaits each batch and the caller loops.
        """
        while listener.last + 1 < self.window.start and not listener.closed_reason:
            number = listener.last // PAGE
            page = await self.history.page(number, self.window.start - 1)
            upto = min(page_end(number, page), self.window.start - 1)
            if upto <= listener.last:
                raise RuntimeError(f"the store holds less of event {self.event_id} than its hub")
            after = listener.last
            frames = [frame for slot in visible(page, listener.room)
                      if after < slot.change.seq <= upto
                      and (frame := self._encode(slot, listener.view)) is not None]
            await self._send(listener, upto, frames, send)
        if listener.closed_reason:
            return
        if send is not None:
            upto = max(listener.last, self.window.last)
            frames = self.window.frames(listener.view, listener.room, listener.last, self._encode)
            await self._send(listener, upto, frames, send)
            listener.live = not listener.closed_reason
            return
        self.resume(listener)

    def resume(self, listener: Listener) -> bool:
        """Catch a direct socket up from the window and make it live, now, without an
        await; False (nothing done) when it needs store pages or has no direct writer.
        A reconnect storm's usual case: no task, no loop turn, one shared buffer."""
        if listener.direct is None or listener.last + 1 < self.window.start:
            return False
        if not listener.closed_reason:
            upto, joined = self.window.joined(listener.view, listener.room, listener.last,
                                              self._encode)
            _write(listener, upto, joined)
            listener.live = not listener.closed_reason
        return True

    @staticmethod
    async def _send(listener: Listener, upto: int, frames: list[bytes], send: Send | None) -> None:
        if send is None:
            _write(listener, upto, b"".join(frames))
            return
        if frames:
            await send(frames)
        listener.last = upto

    async def revoke_stale(self) -> None:
        """Close every socket whose token is no longer the event's current one."""
        secrets = None
        delay = 0.05
        while secrets is None:
            try:
                secrets = await self.store.secrets(self.event_id)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the store is down; the revocation must not be lost
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            if secrets is None:
                return
        for listener in list(self.listeners):
            if listener.access is not None and not still_valid(listener.access, secrets):
                listener.revoke()


def _write(listener: Listener, upto: int, frames: bytes) -> None:
    """Write a catch-up to a direct socket; one that cannot take it is closed (it
    was leaving already, or it is too far behind), never left half caught up."""
    if frames:
        listener.write(upto, frames)
        if listener.last < upto:
            listener.close("connection closing")
    else:
        listener.last = max(listener.last, upto)


class Hubs:
    """The worker's hubs by event, started on first use and stopped when idle."""

    def __init__(self, store: Store, broker: Broker, render: Render, idle_seconds: float = 30.0,
                 beat: Beat | None = None, beat_seconds: float = 20.0) -> None:
        self.store = store
        self.broker = broker
        self.render = render
        self.beat = beat
        self.beat_seconds = beat_seconds
        self.idle_seconds = idle_seconds
        self.window = WINDOW
        self._hubs: dict[str, EventHub] = {}
        self._starting: dict[str, asyncio.Task[EventHub]] = {}
        self._idle: dict[str, asyncio.TimerHandle] = {}

    async def get(self, event_id: str) -> EventHub:
        hub = self._hubs.get(event_id)
        if hub is not None and hub.failed is None and not hub.stopped:
            return hub
        task = self._starting.get(event_id)
        if task is None:
            task = asyncio.create_task(self._start(event_id))
            self._starting[event_id] = task
        try:
            return await asyncio.shield(task)
        finally:
            if task.done():
                self._starting.pop(event_id, None)

    async def _start(self, event_id: str) -> EventHub:
        hub = EventHub(event_id, self.store, self.broker, self.render, self.beat,
                       self.beat_seconds, self.window)
        await hub.start()
        self._hubs[event_id] = hub
        return hub

    async def join(self, event_id: str, listener: Listener) -> EventHub:
        """The event's running hub, with ``listener`` attached to it.

        Attached in the same loop turn as the hub is found running: a hub that an
        idle timer stopped meanwhile is never joined (its socket would get nothing).
        """
        while True:
            hub = await self.get(event_id)
            if not hub.stopped and hub.failed is None and self._hubs.get(event_id) is hub:
                hub.add(listener)
                timer = self._idle.pop(event_id, None)
                if timer is not None:
                    timer.cancel()
                return hub

    def detach(self, hub: EventHub, listener: Listener) -> None:
        hub.remove(listener)
        if not hub.listeners and hub.event_id not in self._idle and not hub.stopped:
            loop = asyncio.get_running_loop()
            self._idle[hub.event_id] = loop.call_later(
                self.idle_seconds, lambda: asyncio.ensure_future(self._stop_if_idle(hub))
            )

    async def _stop_if_idle(self, hub: EventHub) -> None:
        self._idle.pop(hub.event_id, None)
        if not hub.listeners and self._hubs.get(hub.event_id) is hub:
            del self._hubs[hub.event_id]
            await hub.stop()

    async def close(self) -> None:
        for timer in self._idle.values():
            timer.cancel()
        self._idle.clear()
        for hub in list(self._hubs.values()):
            await hub.stop()
        self._hubs.clear()

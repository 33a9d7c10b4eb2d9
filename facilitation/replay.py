"""What sockets missed, kept once per worker and shared by every socket that missed it.

When the venue's Wi-Fi comes back, a thousand sockets reconnect in the same second,
each saying the last sequence number it saw. Catching each of them up on its own
(one store read each, one render per change each) costs a thousand times what one
costs, and on SQLite queues those reads ahead of the writes. Here, instead:

- ``Window``: the hub's most recent changes in memory, each with its frames encoded
  once per view (the same bytes go to every socket of that view) and indexed by
  room, so a room's socket finds its changes without scanning the others'. The
  frames a socket missed are joined into one buffer, kept until the next change, so
  every socket of a room reconnecting from the same point gets the very same bytes.
- ``History``: past the window, the log is read from the store in aligned pages of
  ``PAGE`` changes; one read per page per hub, shared by every socket waiting on it,
  and the last few pages kept for the sockets that arrive a moment later.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import heapq
import itertools
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterable, Iterator

from facilitation.domain import Change

# How many changes a store read brings; pages are aligned to it, so sockets resuming
# from nearby points share a read.
PAGE = 500
# Recent changes kept per hub: at a thousand changes an hour, a morning's work, so a
# reconnect after a blip (or a restart of a page) never reads the store.
WINDOW = 5000
# Store pages kept after their read, for sockets that arrive a moment later.
PAGES_KEPT = 8


class Slot:
    """One change and its frames, encoded at most once per view (None: nothing to send)."""

    __slots__ = ("change", "frames")

    def __init__(self, change: Change) -> None:
        self.change = change
        self.frames: dict[str, bytes | None] = {}


# (slot, view) -> the encoded frame, cached in the slot.
Encode = Callable[[Slot, str], "bytes | None"]


def visible(slots: Iterable[Slot], room: str | None) -> Iterator[Slot]:
    """The changes a socket of ``room`` may see (None: every room)."""
    if room is None:
        return iter(slots)
    return (s for s in slots if s.change.room is None or s.change.room == room)


class Window:
    """The last ``size`` changes of one event, in seq order without a gap."""

    def __init__(self, start: int, size: int = WINDOW) -> None:
        self.size = size
        self.start = start  # the seq of the oldest slot (or of the next change, when empty)
        self.slots: deque[Slot] = deque()
        # Room (None: event-wide changes) -> the seqs of its changes in the window.
        self.by_room: dict[str | None, deque[int]] = {}
        # (view, room, after) -> (up to, the joined frames); valid until the next change.
        self._joined: dict[tuple[str, str | None, int], tuple[int, bytes]] = {}

    @property
    def last(self) -> int:
        return self.start + len(self.slots) - 1

    def add(self, change: Change) -> Slot:
        if not self.slots:
            self.start = change.seq
        elif change.seq != self.last + 1:
            raise ValueError(f"change {change.seq} after {self.last}: the window has no gaps")
        slot = Slot(change)
        self.slots.append(slot)
        self.by_room.setdefault(change.room, deque()).append(change.seq)
        while len(self.slots) > self.size:
            old = self.slots.popleft().change
            self.start = old.seq + 1
            seqs = self.by_room[old.room]
            seqs.popleft()
            if not seqs:
                del self.by_room[old.room]
        self._joined.clear()
        return slot

    def _seqs(self, room: str | None, after: int) -> Iterator[int]:
        if room is None:
            return iter(range(max(after + 1, self.start), self.last + 1))
        tails = []
        for key in (room, None):
            seqs = self.by_room.get(key)
            if seqs:
                tails.append(itertools.islice(seqs, bisect.bisect_right(seqs, after), None))
        return heapq.merge(*tails)

    def frames(self, view: str, room: str | None, after: int, encode: Encode) -> list[bytes]:
        """Every frame after ``after`` (which must be ``start - 1`` or later) for one view."""
        out = []
        for seq in self._seqs(room, after):
            frame = encode(self.slots[seq - self.start], view)
            if frame is not None:
                out.append(frame)
        return out

    def joined(self, view: str, room: str | None, after: int, encode: Encode) -> tuple[int, bytes]:
        """(the last seq covered, what the socket missed as one buffer), shared by every
        socket of the same view and room resuming from the same point."""
        key = (view, room, after)
        found = self._joined.get(key)
        if found is None:
            found = (max(after, self.last), b"".join(self.frames(view, room, after, encode)))
            self._joined[key] = found
        return found


class History:
    """Pages of the log read from the store, one read per page shared by its waiters."""

    def __init__(self, read: Callable[[int, int], Awaitable[list[Change]]]) -> None:
        self.read = read  # (after, limit) -> changes
        self._pages: OrderedDict[int, list[Slot]] = OrderedDict()
        self._reads: dict[int, asyncio.Task[list[Slot]]] = {}
        self.reads = 0  # store reads made (the tests count them)

    async def page(self, number: int, need: int) -> list[Slot]:
        """Page ``number`` (seqs ``number*PAGE+1`` ... ``(number+1)*PAGE``), holding at
        least up to seq ``need`` or the page's end. A page read when the log was
        shorter is read again once more of it is needed (once: a store that holds
        less than asked is the caller's to notice)."""
        fresh: list[Slot] = []
        for _ in range(2):
            page = self._pages.get(number)
            if page is not None and (len(page) == PAGE or page_end(number, page) >= need):
                self._pages.move_to_end(number)
                return page
            task = self._reads.get(number)
            if task is None:
                task = asyncio.create_task(self._read(number))
                self._reads[number] = task
                # A read whose waiters all left must not log "exception never retrieved".
                task.add_done_callback(_retrieve)
            # Shielded: a socket that leaves does not cancel the others' read.
            fresh = await asyncio.shield(task)
            if len(fresh) == PAGE or page_end(number, fresh) >= need:
                return fresh
        return fresh

    async def _read(self, number: int) -> list[Slot]:
        try:
            self.reads += 1
            page = [Slot(c) for c in await self.read(number * PAGE, PAGE)]
            self._pages[number] = page
            self._pages.move_to_end(number)
            while len(self._pages) > PAGES_KEPT:
                self._pages.popitem(last=False)
            return page
        finally:
            self._reads.pop(number, None)

    def cancel(self) -> None:
        for task in list(self._reads.values()):
            task.cancel()


def page_end(number: int, page: list[Slot]) -> int:
    """The last seq a page covers (its start, when empty)."""
    return page[-1].change.seq if page else number * PAGE


def _retrieve(task: asyncio.Task[list[Slot]]) -> None:
    if not task.cancelled():
        with contextlib.suppress(BaseException):
            task.exception()

"""The board's costly read models, kept up to date change by change.

Likely duplicates across rooms and alike responsibilities (the roles matrix's
conflicts) compare texts with each other. Done over the whole board on every
moderator refresh, that was quadratic in the event, on the event loop. Here each
board carries one ``Models`` (in ``board.derived``) that follows the keys the board
applied (``board.journal``): a new or edited item or role is compared once, against
an index (``similarity.PairIndex``: bounded blocking, then bounded scoring), and a
read costs the pairs found. Results are kept until the board's ``seq`` changes.

On the event loop the work runs in slices of at most ``SLICE_SECONDS``, and the
server answers everyone else between two slices (``settle``): the first look at a
big board after a start, or a flood of new items, never holds the loop. A page
that cannot wait longer than ``SETTLE_SECONDS`` is shown what is compared so far
(``pending`` says how much is left) and fetches again; such a read says
``partial=True``. Any other read (an export, the command line, a test) finishes
the work first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any

from rapidfuzz import fuzz

from facilitation.domain import ITEM, MERGE, ROLE, Board
from facilitation.similarity import PairIndex, duplicate_score

log = logging.getLogger("facilitation.follow")

# How alike two items from different rooms must be (``duplicate_score``, 0-100) to be
# offered as a likely duplicate.
DUPLICATE_SCORE = 75
# How alike two responsibilities must be (token_sort_ratio, 0-100) to be "the same".
SAME_RESPONSIBILITY = 85
# The longest the event loop runs this work at once, and the longest a request waits
# for it before it is answered with what is compared so far. A page so answered shows
# that it is still looking and asks again 2 s later; during a flood the backlog is
# seconds of comparisons, so waiting longer only made every refresh slower (issue 18:
# 100 ms was most of a refresh's time while one participant flooded the event).
SLICE_SECONDS = 0.005
SETTLE_SECONDS = 0.05
# More entries than this still to compare (a flood): a page's short wait could not see
# them done, so it does not wait at all and is answered with what is compared so far.
BACKLOG = 20

_FOLLOWED = (f"{MERGE}:", f"{ITEM}:", f"{ROLE}:")


class Models:
    """One board's duplicate and responsibility indexes, and its kept results."""

    def __init__(self, board: Board) -> None:
        self.board = board
        self.duplicates = PairIndex(duplicate_score, DUPLICATE_SCORE)
        self.duties = PairIndex(fuzz.token_sort_ratio, SAME_RESPONSIBILITY)
        self.merged_by: dict[str, str] = {}
        self.merge_items: dict[str, tuple[str, ...]] = {}
        # Merges first, so that a merged item is never compared only to be dropped.
        keys = [k for k in board.entities if k.startswith(_FOLLOWED)]
        keys.sort(key=lambda k: not k.startswith(_FOLLOWED[0]))
        self.todo: deque[str] = deque(keys)
        board.journal = []
        self._kept: dict[str, tuple[int, Any]] = {}
        self._task: asyncio.Task[None] | None = None

    # -- following the board ---------------------------------------------------------

    def _take_journal(self) -> None:
        journal = self.board.journal
        if journal:
            self.todo.extend(k for k in journal if k.startswith(_FOLLOWED))
            journal.clear()

    @property
    def pending(self) -> int:
        self._take_journal()
        return len(self.todo)

    def work(self, seconds: float | None) -> bool:
        """Follow the board for at most ``seconds`` (None: until done); True when done."""
        self._take_journal()
        deadline = None if seconds is None else time.perf_counter() + seconds
        while self.todo:
            self._follow(self.todo.popleft())
            if deadline is not None and time.perf_counter() >= deadline:
                break
        return not self.todo

    def _follow(self, key: str) -> None:
        entity = self.board.entities.get(key)
        if entity is None:
            return
        kind, _, entity_id = key.partition(":")
        live = not entity.get("deleted")
        if kind == ITEM:
            if live and entity_id not in self.merged_by:
                self.duplicates.put(entity_id, str(entity.get("text", "")), entity.get("room"))
            else:
                self.duplicates.remove(entity_id)
        elif kind == ROLE:
            if live:
                self.duties.put(entity_id, str(entity.get("responsibility", "")))
            else:
                self.duties.remove(entity_id)
        elif kind == MERGE:
            before = self.merge_items.get(entity_id, ())
            after = tuple(str(i) for i in entity.get("items", ())) if live else ()
            for item in before:
                if self.merged_by.get(item) == entity_id:
                    del self.merged_by[item]
            for item in after:
                self.merged_by[item] = entity_id
            self.merge_items[entity_id] = after
            for item in dict.fromkeys(before + after):
                self._follow(f"{ITEM}:{item}")

    async def settle(self, wait: float) -> bool:
        """Bring the indexes up to date in slices, waiting at most ``wait`` seconds."""
        if self.work(0):
            return True
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="facilitation-follow")
        if wait <= SETTLE_SECONDS and self.pending > BACKLOG:
            await asyncio.sleep(0)  # still a turn for the work and everyone else
            return False
        try:
            await asyncio.wait_for(asyncio.shield(self._task), wait)
        except TimeoutError:
            pass
        return self.pending == 0

    async def _run(self) -> None:
        try:
            while not self.work(SLICE_SECONDS):  # noqa: ASYNC110 - work, not a wait
                await asyncio.sleep(0)  # everyone else's turn between two slices
        except Exception:  # noqa: BLE001 - a read model must never take a worker down
            log.exception("following the board of %s failed; it is rebuilt on next use",
                          self.board.event_id)
            self.board.derived.pop("models", None)
            self.board.journal = None

    # -- results, kept until the board changes -----------------------------------------

    def cached(self, name: str, seq: int, partial: bool = False) -> Any | None:
        """A result kept for this ``seq``, if the indexes were complete when it was made.

        ``partial`` (on the event loop, after ``settle``): read what is compared so far.
        Otherwise the rest of the work is done first, so a caller that did not settle
        (an export, the command line, a test) is never silently given half an answer.
        """
        if not partial:
            self.work(None)
        found = self._kept.get(name)
        if found is not None and found[0] == seq and self.pending == 0:
            return found[1]
        return None

    def keep(self, name: str, seq: int, value: Any) -> None:
        if self.pending == 0:
            self._kept[name] = (seq, value)


def models(board: Board) -> Models:
    found = board.derived.get("models")
    if not isinstance(found, Models) or board.journal is None:
        found = board.derived["models"] = Models(board)
    return found


async def settle(board: Board, wait: float = SETTLE_SECONDS) -> bool:
    """Before reading duplicates or the roles matrix on the event loop: True when complete."""
    return await models(board).settle(wait)


def pending(board: Board) -> int:
    """Entries still to compare (0: the duplicates and the roles matrix are complete)."""
    return models(board).pending

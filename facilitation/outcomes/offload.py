"""Render exports in a helper process, so a big export never slows the event loop.

Why a process and not a thread: rendering is CPU-bound Python. On a thread it
holds the GIL most of the time, and the event loop that serves every room's
live updates waits for it on each switch (benchmarks/export.py measures the
difference). In a process it runs on the other core; the server only pickles
the board snapshot (about 12 ms for 10,000 actions) and receives the bytes.

The pool is per server process, made on first use with the "spawn" start
method (never fork a process that runs an event loop and threads). If the
helper process dies, the export falls back to a thread and the next one starts
a fresh pool.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from facilitation.domain import Board
from facilitation.outcomes import Export, export

log = logging.getLogger("facilitation")

_pool: ProcessPoolExecutor | None = None
_lock = threading.Lock()


def _executor() -> ProcessPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(
                max_workers=max(1, min(2, (os.cpu_count() or 1))),
                mp_context=multiprocessing.get_context("spawn"),
            )
        return _pool


def _discard(pool: ProcessPoolExecutor) -> None:
    global _pool
    with _lock:
        if _pool is pool:
            _pool = None
    pool.shutdown(wait=False, cancel_futures=True)


async def render(board: Board, fmt: str) -> Export:
    """``outcomes.export(board, fmt)``, computed off the event loop."""
    pool = _executor()
    try:
        return await asyncio.get_running_loop().run_in_executor(pool, export, board, fmt)
    except BrokenProcessPool:
        log.warning("the export process died; rendering this export on a thread")
        _discard(pool)
        return await asyncio.to_thread(export, board, fmt)

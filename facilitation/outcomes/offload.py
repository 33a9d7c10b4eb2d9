"""Render exports in a helper process, so a big export never slows the event loop.

Why a process and not a thread: rendering is CPU-bound Python. On a thread it
holds the GIL most of the time, and the event loop that serves every room's
live updates waits for it at each switch (benchmarks/export.py shows the
difference). In a helper process it runs on another core; the server only
pickles the board snapshot (about 12 ms for 10,000 actions) and reads bytes.

The helper is one ``ProcessPoolExecutor(max_workers=1)`` per server process,
started on first use: exports take their turn in it. Its process is spawned
rather than forked (the server has threads running), ignores Ctrl+C (the
server's shutdown ends it) and ends with the server even when the server is
killed. If it dies, the pool is broken: the export in flight is rendered on a
thread, and the next export starts a fresh pool. As with any spawned process, the
server's main module is imported again in the helper, so it must start nothing
at import (``if __name__ == "__main__":``); ``facilitation serve``, uvicorn and
gunicorn are.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import wait

from facilitation.domain import Board
from facilitation.outcomes import Export, Query, export

log = logging.getLogger("facilitation")

_pool: ProcessPoolExecutor | None = None


def pool() -> ProcessPoolExecutor:
    """The server process's export helper, started on first use."""
    global _pool
    if _pool is None:
        _pool = ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"),
            initializer=_in_helper)
    return _pool


def _in_helper() -> None:
    # Ctrl+C in the server's terminal reaches this process too; the server ends it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = multiprocessing.parent_process()
    if parent is not None:
        # A server killed outright never says goodbye: leave when it is gone.
        threading.Thread(target=_end_with, args=(parent.sentinel,), daemon=True).start()


def _end_with(sentinel: int) -> None:
    wait([sentinel])
    os._exit(0)


async def render(board: Board, fmt: str | Query) -> Export:
    """``outcomes.export(board, fmt)``, computed off the event loop."""
    global _pool
    helper = pool()
    try:
        return await asyncio.get_running_loop().run_in_executor(helper, export, board, fmt)
    except BrokenProcessPool as error:
        log.warning("export helper failed (%s); rendering this export on a thread", error)
        if _pool is helper:
            _pool = None
        return await asyncio.to_thread(export, board, fmt)

"""Render exports in a helper process, so a big export never slows the event loop.

Why a process and not a thread: rendering is CPU-bound Python. On a thread it
holds the GIL most of the time, and the event loop that serves every room's
live updates waits for it at each switch (benchmarks/export.py shows the
difference). In a helper process it runs on another core; the server only
pickles the board snapshot (about 12 ms for 10,000 actions) and reads bytes.

The helper is a plain ``python -m facilitation.outcomes.worker`` child (not
multiprocessing, which would re-import the server's main module), one per
event loop, started on first use and used by one export at a time. If it dies
or an export is abandoned half-way, it is killed and the next export starts a
fresh one; if it cannot run at all, the export is rendered on a thread.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import sys
import weakref

from facilitation.domain import Board
from facilitation.outcomes import Export, Query, export
from facilitation.outcomes.worker import frame

log = logging.getLogger("facilitation")

# Answers can be large (a 10,000-action JSON is ~7 MB): read them in big chunks.
READ_LIMIT = 1 << 20


class HelperFailed(RuntimeError):
    pass


class Helper:
    """One helper process for one event loop; one export at a time."""

    def __init__(self) -> None:
        self.process: asyncio.subprocess.Process | None = None
        self.lock = asyncio.Lock()

    async def _started(self) -> asyncio.subprocess.Process:
        if self.process is None or self.process.returncode is not None:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "facilitation.outcomes.worker",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=READ_LIMIT,
            )
        return self.process

    async def render(self, board: Board, fmt: str | Query) -> Export:
        async with self.lock:
            process = await self._started()
            assert process.stdin is not None and process.stdout is not None
            try:
                process.stdin.write(frame(pickle.dumps((board, fmt), pickle.HIGHEST_PROTOCOL)))
                await process.stdin.drain()
                size = int.from_bytes(await process.stdout.readexactly(8), "big")
                status, value = pickle.loads(await process.stdout.readexactly(size))  # noqa: S301
            except BaseException:
                # Died, or this export was abandoned mid-way: its answer would be read by
                # the next export. Start afresh next time.
                self.kill()
                raise
            if status != "ok":
                raise HelperFailed(str(value))
            assert isinstance(value, Export)
            return value

    def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
        self.process = None


_helpers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Helper] = (
    weakref.WeakKeyDictionary())


def helper() -> Helper:
    loop = asyncio.get_running_loop()
    if loop not in _helpers:
        _helpers[loop] = Helper()
    return _helpers[loop]


async def render(board: Board, fmt: str | Query) -> Export:
    """``outcomes.export(board, fmt)``, computed off the event loop."""
    try:
        return await helper().render(board, fmt)
    except (OSError, EOFError, asyncio.IncompleteReadError, HelperFailed) as error:
        log.warning("export helper failed (%s); rendering this export on a thread", error)
        return await asyncio.to_thread(export, board, fmt)

"""The embedded store: one SQLite file in WAL mode, written by one thread.

Writes are group-committed: the writer takes every append waiting in its queue,
decides them in order against the in-memory board, commits them in one
transaction (``synchronous=FULL``: on disk before the answer), and only then
updates the board, publishes and answers. One fsync carries a whole burst, so
durability does not cap throughput. All SQLite calls run off the event loop:
writes (and the reads the writer needs) on one thread and connection; the log
reads that catch sockets up (``changes_after``) on a second connection and
thread of their own, which WAL lets read beside the writer. A thousand sockets
catching up at once therefore never queue ahead of a write.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from facilitation.domain import (
    Appended,
    Board,
    Change,
    Command,
    Conflict,
    DomainError,
    NotFound,
    Secrets,
    decide,
    now_iso,
)
from facilitation.rules import Indexes, Write, judge
from facilitation.store import StoreUnavailable, channel
from facilitation.store.sqlite_support import (
    BatchReads,
    FolderLock,
    insert_change,
    migrate_tokens,
    set_tokens,
    transaction,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from facilitation.broker import Broker

T = TypeVar("T")
log = logging.getLogger("facilitation.store.sqlite")

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    secrets TEXT NOT NULL,  -- '' since tokens have their own rows; a JSON blob before
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS health (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    pad BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    event_id TEXT NOT NULL,
    field TEXT NOT NULL,
    token TEXT NOT NULL,
    PRIMARY KEY (event_id, field)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS changes (
    event_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (event_id, seq),
    UNIQUE (event_id, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS entities (
    event_id TEXT NOT NULL,
    key TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (event_id, key)
) WITHOUT ROWID;
"""

# Most appends a single transaction carries.
BATCH = 512
# /healthz writes to the file at most this often (seconds) while writes succeed; after
# a failed commit, on every ask until one succeeds (recovery needs no restart).
PROBE_SECONDS = 5.0
# The probe writes about one page, as a small batch of changes does.
PROBE_BYTES = 4096


@dataclass
class _Pending:
    event_id: str
    command: Command
    future: asyncio.Future[Appended]


@dataclass
class _EventCache:
    board: Board
    keys: dict[str, tuple[int, str]]  # idempotency key -> (seq, fingerprint)
    indexes: Indexes  # what the cross-entity rules read (rules.py)


class SQLiteStore:
    name = "sqlite"

    def __init__(self, path: Path, broker: Broker) -> None:
        self.path = path
        self.broker = broker
        self._db: sqlite3.Connection | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        # The log's readers: their own connection on their own thread (see the docstring).
        self._reader: sqlite3.Connection | None = None
        self._read_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-read")
        self._cache: dict[str, _EventCache] = {}
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._lock: FolderLock | None = None
        self._stopping = False
        # Why the last commit or probe failed; None while writes succeed.
        self._failure: str | None = None
        self._probed = -PROBE_SECONDS
        # Tokens are read on every request; kept here, written through on change.
        self._secrets: dict[str, Secrets] = {}

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    # -- lifecycle -------------------------------------------------------------------

    def _open(self) -> None:
        owner_only(self.path)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA busy_timeout=5000")
        db.executescript(SCHEMA)
        migrate_tokens(db)
        self._db = db

    def _open_reader(self) -> None:
        reader = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        reader.execute("PRAGMA busy_timeout=5000")
        reader.execute("PRAGMA query_only=ON")
        self._reader = reader

    async def connect(self) -> None:
        # One process per data folder: refused here, before anything is opened.
        self._lock = FolderLock.acquire(self.path.parent)
        try:
            await self._run(self._open)
        except BaseException:
            self._lock.release()
            raise
        # After the writer's connection: the file, WAL mode and schema exist by then.
        await asyncio.get_running_loop().run_in_executor(self._read_thread, self._open_reader)
        self._writer = asyncio.create_task(self._write_loop(), name="sqlite-writer")

    async def disconnect(self) -> None:
        self._stopping = True
        if self._writer is not None and not self._writer.done():
            # Queued writes finish first: their clients are waiting for the answer.
            self._queue.put_nowait(None)
            await self._writer
        if self._reader is not None:
            reader, self._reader = self._reader, None
            await asyncio.get_running_loop().run_in_executor(self._read_thread, reader.close)
        if self._db is not None:
            await self._run(self._db.close)
            self._db = None
        self._thread.shutdown(wait=True)
        self._read_thread.shutdown(wait=True)
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    async def ping(self) -> None:
        """Raise StoreUnavailable unless a write would be stored now: the writer task
        runs, and a real write to the file (every few seconds, and on every ask
        after a failure until one succeeds) commits. A full or read-only disk, or
        an I/O error, fails it like it fails the changes."""
        if self._db is None:
            raise StoreUnavailable("The database is not open.")
        if self._ensure_writer():
            raise StoreUnavailable("The writer had stopped; it was started again.")
        loop = asyncio.get_running_loop()
        if self._failure is None and loop.time() - self._probed < PROBE_SECONDS:
            return
        try:
            await self._run(self._probe)
        except sqlite3.Error as error:
            self._failure = str(error)
            raise StoreUnavailable(f"The database cannot be written: {error}") from error
        self._failure = None
        self._probed = loop.time()

    def _probe(self) -> None:
        db = self.db
        with transaction(db):
            db.execute("INSERT OR REPLACE INTO health (id, at, pad) VALUES (1, ?, randomblob(?))",
                       (now_iso(), PROBE_BYTES))

    def _ensure_writer(self) -> bool:
        """Start the writer task again if it ended (a bug: a failed write fails only its
        batch); whether it had. /healthz answers 503 for the ask that found it dead."""
        if self._stopping or (self._writer is not None and not self._writer.done()):
            return False
        died = self._writer
        self._writer = asyncio.create_task(self._write_loop(), name="sqlite-writer")
        if died is None:
            return False
        reason = "cancelled" if died.cancelled() else repr(died.exception())
        log.error("the SQLite writer had stopped (%s); started again", reason)
        return True

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreUnavailable("The database is not open.")
        return self._db

    # -- reads -----------------------------------------------------------------------

    def _load(self, event_id: str) -> _EventCache | None:
        db = self.db
        if db.execute("SELECT 1 FROM events WHERE id = ?", (event_id,)).fetchone() is None:
            return None
        board = Board(event_id)
        for key, data in db.execute(
            "SELECT key, data FROM entities WHERE event_id = ?", (event_id,)
        ):
            board.entities[key] = orjson.loads(data)
        keys: dict[str, tuple[int, str]] = {}
        for seq, key, fingerprint in db.execute(
            "SELECT seq, key, fingerprint FROM changes WHERE event_id = ?", (event_id,)
        ):
            keys[key] = (seq, fingerprint)
            board.seq = max(board.seq, seq)
        return _EventCache(board, keys, Indexes.of(board))

    async def _cached(self, event_id: str) -> _EventCache | None:
        cache = self._cache.get(event_id)
        if cache is None:
            cache = await self._run(self._load, event_id)
            if cache is not None:
                # Another task may have loaded it meanwhile; keep the first.
                cache = self._cache.setdefault(event_id, cache)
        return cache

    async def board(self, event_id: str) -> Board | None:
        cache = await self._cached(event_id)
        if cache is None:
            return None
        # A snapshot: callers may fold further changes into it without touching ours.
        return cache.board.copy()

    async def view(self, event_id: str) -> Board | None:
        cache = await self._cached(event_id)
        return None if cache is None else cache.board

    async def event_ids(self) -> list[str]:
        rows = await self._run(
            lambda: self.db.execute("SELECT id FROM events ORDER BY created_at").fetchall()
        )
        return [row[0] for row in rows]

    async def secrets(self, event_id: str) -> Secrets | None:
        cached = self._secrets.get(event_id)
        if cached is None:
            def read() -> Secrets | None:
                db = self.db
                if db.execute("SELECT 1 FROM events WHERE id = ?", (event_id,)).fetchone() is None:
                    return None
                return Secrets(dict(db.execute(
                    "SELECT field, token FROM tokens WHERE event_id = ?", (event_id,)).fetchall()))

            found = await self._run(read)
            if found is None:
                return None
            cached = self._secrets.setdefault(event_id, found)
        return cached.copy()

    async def add_tokens(self, event_id: str, tokens: dict[str, str]) -> Secrets:
        def insert() -> Secrets:
            db = self.db
            with transaction(db):
                if db.execute("SELECT 1 FROM events WHERE id = ?", (event_id,)).fetchone() is None:
                    raise NotFound("No such event.")
                db.executemany(
                    "INSERT OR IGNORE INTO tokens (event_id, field, token) VALUES (?, ?, ?)",
                    [(event_id, name, token) for name, token in tokens.items()])
                return Secrets(dict(db.execute(
                    "SELECT field, token FROM tokens WHERE event_id = ?", (event_id,)).fetchall()))

        secrets = await self._run(insert)
        self._secrets[event_id] = secrets.copy()
        return secrets

    async def changes_after(self, event_id: str, after: int, limit: int = 1000) -> list[Change]:
        def read() -> list[Any]:
            if self._reader is None:
                raise StoreUnavailable("The database is not open.")
            return self._reader.execute(
                "SELECT body FROM changes WHERE event_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (event_id, after, limit),
            ).fetchall()

        # On the reader's thread and connection: never queued ahead of a write.
        rows = await asyncio.get_running_loop().run_in_executor(self._read_thread, read)
        return [Change.from_json(row[0]) for row in rows]

    # -- writes ----------------------------------------------------------------------

    async def create_event(self, event_id: str, secrets: Secrets, command: Command) -> Change:
        at = now_iso()
        data = decide(command, None, False, at)
        change = Change(1, None, command.change_type, command.key, at, data)

        def insert() -> bytes:
            db = self.db
            with transaction(db):
                db.execute(
                    "INSERT INTO events (id, secrets, created_at) VALUES (?, ?, ?)",
                    (event_id, "", at),
                )
                body = insert_change(db, event_id, change, command.fingerprint)
                set_tokens(db, event_id, secrets.tokens)
            return body

        body = await self._run(insert)
        # The change itself goes with its bytes: an in-process hub never decodes it.
        await self.broker.publish(channel(event_id), body, change)
        return change

    async def append(self, event_id: str, command: Command) -> Appended:
        if self._db is None or self._stopping:
            raise StoreUnavailable("The store is not running.")
        self._ensure_writer()
        cache = await self._cached(event_id)
        if cache is None:
            raise NotFound("No such event.")
        future: asyncio.Future[Appended] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(event_id, command, future))
        return await future

    async def _write_loop(self) -> None:
        stopping = False
        while not stopping:
            first = await self._queue.get()
            batch = [] if first is None else [first]
            stopping = first is None
            while len(batch) < BATCH and not self._queue.empty():
                pending = self._queue.get_nowait()
                if pending is None:
                    stopping = True
                else:
                    batch.append(pending)
            if batch:
                await self._write_batch(batch)

    async def _write_batch(self, batch: list[_Pending]) -> None:
        # Decide every command in order against the board plus what this batch has
        # decided so far; nothing touches the real board until the commit. This
        # writer is the only one for the file (the data folder's lock), so every
        # rule that spans entities (rules.py) is decided here, against everything
        # stored and everything ahead of it in the batch: one atomic append.
        decided: list[tuple[_Pending, Change, bool]] = []
        fresh: list[_Fresh] = []
        reads: dict[str, BatchReads] = {}
        new_keys: dict[tuple[str, str], tuple[Change, str]] = {}
        seqs: dict[str, int] = {}
        for pending in batch:
            cache = self._cache[pending.event_id]
            command = pending.command
            try:
                replay = await self._replayed(cache, new_keys, pending.event_id, command)
                if replay is not None:
                    decided.append((pending, replay, True))
                    continue
                batch_reads = reads.setdefault(pending.event_id, BatchReads(cache.board, cache.indexes))
                at = now_iso()
                data, writes = judge(command, batch_reads, at)
            except DomainError as error:
                pending.future.set_exception(error)
                continue
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - never kill the writer
                pending.future.set_exception(error)
                continue
            seq = seqs.get(pending.event_id, cache.board.seq) + 1
            seqs[pending.event_id] = seq
            change = Change(seq, command.room, command.change_type, command.key, at, data)
            batch_reads.record(command.entity_key, data, writes)
            new_keys[(pending.event_id, command.key)] = (change, command.fingerprint)
            decided.append((pending, change, False))
            fresh.append(_Fresh(pending.event_id, change, command.fingerprint, writes,
                                command.tokens))

        bodies: list[bytes] = []
        if fresh:
            try:
                bodies = await self._run(self._commit, fresh)
            except Exception as error:  # noqa: BLE001
                # /healthz answers 503 from now on, until a write to the file succeeds.
                self._failure = str(error)
                failure = StoreUnavailable(f"The change could not be stored: {error}")
                for pending, _, _ in decided:
                    if not pending.future.done():
                        pending.future.set_exception(failure)
                return
        if fresh:
            self._failure = None
        for item, body in zip(fresh, bodies, strict=True):
            cache = self._cache[item.event_id]
            cache.board.apply(item.change)
            cache.indexes.write(item.writes)
            cache.keys[item.change.key] = (item.change.seq, item.fingerprint)
            secrets = self._secrets.get(item.event_id)
            if secrets is not None:
                secrets.tokens.update(item.tokens)
                for name in [n for n, token in item.tokens.items() if not token]:
                    del secrets.tokens[name]
            await self.broker.publish(channel(item.event_id), body, item.change)
        for pending, change, replayed in decided:
            if not pending.future.done():
                pending.future.set_result(Appended(change, replayed))

    async def _replayed(
        self,
        cache: _EventCache,
        new_keys: dict[tuple[str, str], tuple[Change, str]],
        event_id: str,
        command: Command,
    ) -> Change | None:
        """The stored change when this command's key was seen before, else None."""
        if (event_id, command.key) in new_keys:
            change, fingerprint = new_keys[(event_id, command.key)]
        elif command.key in cache.keys:
            seq, fingerprint = cache.keys[command.key]
            # A retry of something stored in an earlier batch: read it back.
            row = await self._run(
                lambda: self.db.execute(
                    "SELECT body FROM changes WHERE event_id = ? AND seq = ?", (event_id, seq)
                ).fetchone()
            )
            change = Change.from_json(row[0])
        else:
            return None
        if fingerprint != command.fingerprint:
            raise Conflict("This id was already used with different content.")
        return change

    def _commit(self, fresh: list[_Fresh]) -> list[bytes]:
        """Store the batch in one transaction; each change's JSON, encoded once, for the broker."""
        db = self.db
        bodies = []
        with transaction(db):
            for item in fresh:
                bodies.append(insert_change(db, item.event_id, item.change, item.fingerprint))
                # In the same transaction: a rotation's token and the change that
                # announces it (a new room and its join token) are stored together or not at all.
                set_tokens(db, item.event_id, item.tokens)
        return bodies


@dataclass
class _Fresh:
    """A change decided in this batch, with what it writes besides the log."""

    event_id: str
    change: Change
    fingerprint: str
    writes: list[Write]
    tokens: dict[str, str]


def owner_only(path: Path) -> None:
    """The database holds every event's tokens in clear: its folder 0700, the file and
    its WAL and shared-memory files 0600 (SQLite gives those the database file's mode),
    also for a folder made before this rule."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for name in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if name.exists():
            os.chmod(name, 0o600)



"""The SQLite store's parts besides the store itself: one process per data folder,
the transaction, the batch's view for the rules, and the tokens' rows."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from pathlib import Path
from typing import IO

import orjson

from facilitation.domain import Board, Change, Entity, Secrets, entity_key
from facilitation.rules import Indexes, Write

LOCK_NAME = "facilitation.lock"


class DataFolderInUse(RuntimeError):
    """Another process serves this data folder: the embedded store has one writer."""


class FolderLock:
    """An exclusive lock on the data folder, held while the store is open.

    The embedded store keeps each event's board, its sequence and its rules in the
    one process that writes the file: a second process on the same folder would
    keep its own, and the two would hand out the same sequence numbers. So a second
    one is refused, whatever starts it (``facilitation serve``, ``uvicorn --factory``,
    a command such as ``facilitation export``). The lock is the kernel's (``flock``):
    it goes with the process, also when it is killed."""

    def __init__(self, handle: IO[str]) -> None:
        self.handle = handle

    @classmethod
    def acquire(cls, folder: Path) -> FolderLock:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle = (folder / LOCK_NAME).open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise DataFolderInUse(
                f"The data folder {folder} is already in use by {holder}. The embedded "
                "store serves one process per folder: stop that one first (its API serves "
                "the exports too), give this one another FACILITATION_DATA_DIR, or run "
                "several workers on Redis (FACILITATION_REDIS_URL).") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()}\n")
        handle.flush()
        return cls(handle)

    def release(self) -> None:
        if not self.handle.closed:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()


class transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            try:
                self.db.execute("COMMIT")
            except BaseException:
                # A failed COMMIT (a full disk, an I/O error) may leave the
                # transaction open: roll it back, or the next BEGIN fails and the
                # connection holds the write lock and half a batch forever.
                self._rollback()
                raise
        else:
            self._rollback()

    def _rollback(self) -> None:
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")


class BatchReads:
    """What a decision in a batch reads: the committed board and indexes, plus what
    this batch decided before it (not on the board until the commit)."""

    def __init__(self, board: Board, indexes: Indexes) -> None:
        self.board = board
        self.committed = indexes
        self.entities: dict[str, Entity] = {}
        self.indexes: dict[tuple[str, str], str] = {}

    def entity(self, key: str) -> Entity | None:
        return self.entities.get(key, self.board.entities.get(key))

    def value(self, index: str, name: str) -> str:
        return self.indexes.get((index, name), self.committed.get(index, name))

    def record(self, key: str, data: Entity, writes: list[Write]) -> None:
        self.entities[key] = data
        for index, name, op, value in writes:
            if op == "S":
                self.indexes[(index, name)] = value
            elif op == "D":
                self.indexes[(index, name)] = ""
            else:
                self.indexes[(index, name)] = str(int(self.value(index, name) or 0) + int(value))


def set_tokens(db: sqlite3.Connection, event_id: str, tokens: dict[str, str]) -> None:
    """Store each token; an empty one takes its field's token away."""
    db.executemany(
        "INSERT OR REPLACE INTO tokens (event_id, field, token) VALUES (?, ?, ?)",
        [(event_id, name, token) for name, token in tokens.items() if token])
    db.executemany("DELETE FROM tokens WHERE event_id = ? AND field = ?",
                   [(event_id, name) for name, token in tokens.items() if not token])


def migrate_tokens(db: sqlite3.Connection) -> None:
    """Tokens stored as one JSON blob per event (before one row per token) get their rows."""
    legacy = db.execute("SELECT id, secrets FROM events WHERE secrets != ''").fetchall()
    if not legacy:
        return
    with transaction(db):
        for event_id, raw in legacy:
            tokens = Secrets.from_legacy_json(raw).tokens
            db.executemany(
                "INSERT OR IGNORE INTO tokens (event_id, field, token) VALUES (?, ?, ?)",
                [(event_id, name, token) for name, token in tokens.items()])
            db.execute("UPDATE events SET secrets = '' WHERE id = ?", (event_id,))


def insert_change(db: sqlite3.Connection, event_id: str, change: Change, fingerprint: str) -> bytes:
    """Store a change and its entity; return the change's JSON for the broker.

    The change is encoded once, on the writer's thread: its data (the entity after
    the change) is both the entity row and the tail of the change's JSON, the very
    bytes ``Change.to_json`` makes.
    """
    data = orjson.dumps(change.data)
    head = orjson.dumps({"seq": change.seq, "room": change.room, "type": change.type,
                         "key": change.key, "at": change.at})
    body = head[:-1] + b',"data":' + data + b"}"
    db.execute(
        "INSERT INTO changes (event_id, seq, key, fingerprint, body) VALUES (?, ?, ?, ?, ?)",
        (event_id, change.seq, change.key, fingerprint, body.decode()),
    )
    db.execute(
        "INSERT OR REPLACE INTO entities (event_id, key, data) VALUES (?, ?, ?)",
        (event_id, entity_key(change.kind, change.data["id"]), data.decode()),
    )
    return body



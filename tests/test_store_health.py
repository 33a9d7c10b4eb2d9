"""One process per embedded data folder, and a /healthz that tells the truth.

/healthz answers 503 while the store cannot store a change (the SQLite writer dead,
the disk full or read-only, Redis down) and 200 again once it can, without a restart.
The disk tests mount a small tmpfs of their own (root with mount rights, as in CI's
container); where mounting is not allowed they are skipped.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from facilitation.broker.memory import MemoryBroker
from facilitation.store.sqlite import SQLiteStore
from facilitation.store.sqlite_support import DataFolderInUse, transaction
from tests.conftest import ADMIN, OwnRedis, Server, auth, free_port, item_body, make_settings, new_event
from tests.workers import Worker


async def test_a_second_store_on_the_same_folder_is_refused(tmp_path: Path) -> None:
    first = SQLiteStore(tmp_path / "facilitation.sqlite3", MemoryBroker())
    await first.connect()
    second = SQLiteStore(tmp_path / "facilitation.sqlite3", MemoryBroker())
    with pytest.raises(DataFolderInUse, match="already in use"):
        await second.connect()
    await first.disconnect()
    await second.connect()  # free again once the first one stopped
    await second.disconnect()


async def test_a_second_process_on_the_folder_is_refused_however_it_starts(tmp_path: Path) -> None:
    first = await Worker(tmp_path / "data", None).start()
    try:
        # The uvicorn factory path (what app.py advertises): the worker refuses to start.
        second = Worker(tmp_path / "data", None)
        with pytest.raises(RuntimeError, match="already in use"):
            await second.start()
        # `facilitation serve`: refused before it starts anything, with the reason.
        env = {**second.env(), "FACILITATION_PORT": str(free_port())}
        served = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "facilitation.cli", "serve"], env=env,
            capture_output=True, text=True, timeout=60)
        assert served.returncode == 2
        assert "already in use" in served.stderr and "FACILITATION_REDIS_URL" in served.stderr
        # A command that writes too (one that only reads opens the file read-only beside).
        made = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "facilitation.cli", "create-event",
                             "--title", "T", "--room", "R"],
            env=env, capture_output=True, text=True, timeout=60)
        assert made.returncode == 2 and "already in use" in made.stderr
    finally:
        await first.stop()
    # Once the first one has stopped, the folder serves again.
    again = await Worker(tmp_path / "data", None).start()
    await again.stop()


def test_a_failed_commit_is_rolled_back(tmp_path: Path) -> None:
    """A COMMIT that fails (here a deferred constraint; a full disk alike) leaves no
    transaction open: the next one starts, and nothing of the failed one is kept."""
    db = sqlite3.connect(tmp_path / "t.sqlite3", isolation_level=None)
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    db.execute("CREATE TABLE child (id INTEGER PRIMARY KEY, parent INTEGER REFERENCES parent(id)"
               " DEFERRABLE INITIALLY DEFERRED)")
    with pytest.raises(sqlite3.IntegrityError), transaction(db):
        db.execute("INSERT INTO child (id, parent) VALUES (1, 42)")  # refused only at COMMIT
    assert not db.in_transaction
    with transaction(db):
        db.execute("INSERT INTO parent (id) VALUES (1)")
    assert db.execute("SELECT count(*) FROM child").fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM parent").fetchone() == (1,)


async def health(http: httpx.AsyncClient) -> int:
    return (await http.get("/healthz")).status_code


async def until_health(http: httpx.AsyncClient, status: int, wait: float = 15) -> None:
    async def poll() -> None:
        while await health(http) != status:  # noqa: ASYNC110 - polling the server
            await asyncio.sleep(0.2)

    await asyncio.wait_for(poll(), wait)


async def test_a_dead_writer_is_503_once_then_restarted(tmp_path: Path) -> None:
    server = await Server(make_settings(tmp_path / "data", free_port())).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
            event = await new_event(http)
            assert await health(http) == 200
            store = server.app.state.services.store
            store._writer.cancel()
            await asyncio.sleep(0.05)
            assert await health(http) == 503
            assert await health(http) == 200
            room = event["rooms"][0]
            made = await http.post(f"/api/events/{event['id']}/rooms/{room['id']}/items",
                                   json=item_body(), headers=auth(room["join_token"]))
            assert made.status_code == 201
    finally:
        await server.stop()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs of this test's own."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({made.stderr.strip()}): disk tests skipped")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    with filler.open("wb") as out:
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError:
            pass
    return filler


async def test_healthz_is_503_while_the_disk_is_full_or_read_only_and_200_after(
    small_disk: Path,
) -> None:
    server = await Server(make_settings(small_disk / "data", free_port())).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
            event = await new_event(http)
            room = event["rooms"][0]
            path = f"/api/events/{event['id']}/rooms/{room['id']}/items"
            token = auth(room["join_token"])
            assert await health(http) == 200

            # A full disk: writes fail (nothing saved, 503), and so does /healthz.
            filler = fill(small_disk)
            statuses = set()
            for n in range(3000):
                answer = await http.post(path, json=item_body(f"{n} " + "x" * 1900), headers=token)
                statuses.add(answer.status_code)
                if answer.status_code == 503:
                    break
            assert 503 in statuses
            await until_health(http, 503)
            filler.unlink()
            await until_health(http, 200)
            made = await http.post(path, json=item_body("after the disk was freed"), headers=token)
            assert made.status_code == 201

            # A database that refuses writes (SQLite's "readonly", as a disk remounted
            # read-only gives; a tmpfs with open files cannot be remounted so):
            # /healthz notices within its probe interval, with no write asked of it.
            store = server.app.state.services.store
            await store._run(store.db.execute, "PRAGMA query_only=ON")
            try:
                await until_health(http, 503)
                refused = await http.post(path, json=item_body("read-only"), headers=token)
                assert refused.status_code == 503
            finally:
                await store._run(store.db.execute, "PRAGMA query_only=OFF")
            await until_health(http, 200)
            made = await http.post(path, json=item_body("writable again"), headers=token)
            assert made.status_code == 201
    finally:
        await server.stop()


async def test_healthz_is_503_while_redis_is_down_and_200_after(
    own_redis: OwnRedis, tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path / "data", free_port(), redis_url=own_redis.url())
    server = await Server(settings).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
            assert await health(http) == 200
            # Redis answers PING but refuses writes (here: too few replicas; a full disk
            # gives MISCONF alike): /healthz notices within its probe interval.
            admin = Redis.from_url(own_redis.url())
            await admin.config_set("min-replicas-to-write", 1)
            try:
                await until_health(http, 503)
            finally:
                await admin.config_set("min-replicas-to-write", 0)
                await admin.aclose()
            await until_health(http, 200)
            await own_redis.stop()
            await until_health(http, 503)
            await own_redis.start()
            await until_health(http, 200)
            created = await http.post("/api/events", headers=auth(ADMIN), json={
                "title": f"After Redis came back {uuid.uuid4().hex[:6]}",
                "rooms": [{"name": "One"}]})
            assert created.status_code == 201
    finally:
        await server.stop()

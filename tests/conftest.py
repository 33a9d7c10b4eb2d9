"""Fixtures: a real uvicorn server on a free loopback port, and a real Redis.

No fakes: the app under test is the app that ships, served by uvicorn on
127.0.0.1, and Redis is a real server (the machine's on 6379, or a throwaway
``redis-server`` started here). In CI a missing Redis fails the run.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from facilitation import config
from facilitation.app import create_app

ADMIN = "test-admin-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_settings(data_dir: Path, port: int, **overrides: Any) -> config.Settings:
    return config.Settings(
        data_dir=data_dir, admin_token=ADMIN, secret_key="test-secret-" + uuid.uuid4().hex,
        public_url=f"http://127.0.0.1:{port}", host="127.0.0.1", port=port, demo=False,
        **overrides,
    )


@dataclass
class Server:
    """One app served by uvicorn in this event loop, on loopback."""

    settings: config.Settings
    app: Any = None
    server: uvicorn.Server | None = None
    task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.settings.port}"

    async def start(self) -> Server:
        self.app = app = create_app(self.settings)
        cfg = uvicorn.Config(
            app, host="127.0.0.1", port=self.settings.port, log_level="warning",
            ws_max_size=self.settings.max_body_bytes, ws_per_message_deflate=False,
            ws="facilitation.wsproto:DirectWebSocketProtocol", lifespan="on",
            http="facilitation.web.httpguard:HeadTimeoutProtocol",  # as `facilitation serve`
            # Clients and servers share this event loop; on a loaded machine it can
            # lag past uvicorn's 5 s keep-alive, and httpx then reuses a connection
            # the server is closing (the keep-alive race, not what these tests test).
            timeout_keep_alive=60,
            # As `facilitation serve` does: pings find dead connections.
            ws_ping_interval=self.settings.heartbeat_seconds,
            ws_ping_timeout=self.settings.heartbeat_seconds,
        )
        self.server = uvicorn.Server(cfg)
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self.task = asyncio.create_task(self.server.serve())
        deadline = time.monotonic() + 10
        while not self.server.started:
            if self.task.done():
                self.task.result()
            if time.monotonic() > deadline:
                raise TimeoutError("server did not start")
            await asyncio.sleep(0.01)
        return self

    async def stop(self) -> None:
        if self.server is not None and self.task is not None:
            self.server.should_exit = True
            await asyncio.wait_for(self.task, 15)
            self.server = None


@pytest.fixture(scope="session")
def tmp_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="facilitation-tests-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
async def server(tmp_root: Path, request: pytest.FixtureRequest) -> AsyncIterator[Server]:
    """The embedded-default app (SQLite + memory broker), started once for the session.

    ``TEST_BACKEND=redis`` serves it from Redis instead, to run every HTTP, page
    and stream test against the Redis store and broker too.
    """
    port = free_port()
    extra: dict[str, Any] = {}
    if os.environ.get("TEST_BACKEND") == "redis":
        extra["redis_url"] = request.getfixturevalue("redis_server").url()
    running = await Server(make_settings(tmp_root / "sqlite", port, **extra)).start()
    yield running
    await running.stop()


@pytest.fixture
async def client(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
        yield http


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def open_sockets(server: Server, event_id: str) -> set[Any]:
    """The event's open sockets on an in-process server, as the event's hub holds them."""
    hub = await server.app.state.services.hubs.get(event_id)
    return set(hub.listeners)


SIX_ROOMS = {
    "title": "Security and preparedness",
    "rooms": [{"name": f"Room {n}", "prompt": f"Question {n}?"} for n in range(1, 7)],
    "goals": ["Shared situational picture", "Clear roles", "Joint exercises"],
}


async def new_event(http: httpx.AsyncClient, body: dict[str, Any] | None = None) -> dict[str, Any]:
    answer = await http.post("/api/events", json=body or SIX_ROOMS, headers=auth(ADMIN))
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


@pytest.fixture
async def event(client: httpx.AsyncClient) -> dict[str, Any]:
    return await new_event(client)


def item_body(text: str = "Set up a joint contact list", **fields: Any) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "text": text, **fields}


# -- Redis ------------------------------------------------------------------------------


def redis_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen[bytes] | None = None  # None: the machine's own server

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"


def start_redis(
    port: int, data_dir: Path, appendonly: bool = False, fsync: str = "everysec"
) -> subprocess.Popen[bytes]:
    data_dir.mkdir(parents=True, exist_ok=True)
    args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--dir", str(data_dir), "--appendonly", "yes" if appendonly else "no",
            "--appendfsync", fsync]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not redis_answers("127.0.0.1", port):
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError("redis-server did not start")
        time.sleep(0.05)
    return process


@pytest.fixture(scope="session")
def redis_server(tmp_root: Path) -> Iterator[RedisServer]:
    """A real Redis: the machine's on 6379, else a throwaway one. Never skipped in CI."""
    if redis_answers("127.0.0.1", 6379):
        yield RedisServer(6379)
        return
    if shutil.which("redis-server"):
        port = free_port()
        process = start_redis(port, tmp_root / "redis")
        yield RedisServer(port, process)
        process.terminate()
        process.wait(10)
        return
    if os.environ.get("CI"):
        pytest.fail("Redis is required in CI: no server on 127.0.0.1:6379 and no redis-server")
    pytest.skip("no Redis here: install redis-server to run the Redis tests")


def need_redis_server() -> None:
    if shutil.which("redis-server"):
        return
    if os.environ.get("CI"):
        pytest.fail("redis-server is required in CI for the Redis fault tests")
    pytest.skip("no redis-server on PATH: install it to run the Redis fault tests")


@dataclass
class OwnRedis:
    """A throwaway redis-server (AOF on) that a test may stop, restart and freeze.

    Never the machine's shared Redis on 6379: other engineers' tests use that one.
    """

    data_dir: Path
    port: int = 0
    fsync: str = "always"
    process: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    async def start(self) -> None:
        self.port = self.port or free_port()
        self.process = await asyncio.to_thread(
            start_redis, self.port, self.data_dir, True, self.fsync)

    async def stop(self) -> None:
        """A clean shutdown (SIGTERM): Redis flushes its AOF and exits."""
        if self.process is not None:
            self.process.terminate()
            await asyncio.to_thread(self.process.wait, 10)
            self.process = None

    def freeze(self) -> None:
        """SIGSTOP: the server keeps its sockets open but answers nothing (half-open)."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[OwnRedis]:
    need_redis_server()
    redis = OwnRedis(tmp_path / "redis")
    await redis.start()
    yield redis
    if redis.process is not None:
        redis.thaw()
        await redis.stop()


# -- Order ------------------------------------------------------------------------------

# The longest files first (their wall time in a loaded run, longest first): the workers
# take files in collection order (`--dist loadfile`), and a long file taken last ran alone
# at the end while the other workers sat idle. Files not named keep their order, after.
LONGEST_FIRST = [
    "browser/test_room_ux.py", "test_races.py", "test_openapi.py", "browser/test_board_fit.py",
    "browser/test_accessibility.py", "browser/test_room.py", "test_outcomes_transfer.py",
    "test_deploy.py", "browser/test_reconnect.py", "faults/test_redis_faults.py",
    "test_store_health.py", "test_redis.py", "test_outcomes_scale.py",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: n for n, name in enumerate(LONGEST_FIRST)}

    def place(item: pytest.Item) -> int:
        path = item.path.as_posix()
        name = path.split("/tests/", 1)[-1]
        return rank.get(name, len(rank))

    items.sort(key=place)  # stable: each file's tests keep their order

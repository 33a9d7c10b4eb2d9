"""Real worker processes and simulated participants for the fault tests.

A ``Worker`` is ``python -m facilitation.cli serve`` in its own process (the
command that ships, with its signal handling and graceful shutdown), so a test
can ``kill -9`` it or send it SIGTERM. A ``Participant`` is what a room page does
on the day, over the API: it submits items with client-generated ids, resends
anything not acknowledged (to another worker when one is down), and follows the
stream, reconnecting from its last sequence number whatever happens. At the end
a test compares every participant's view and the store with what was
acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from tests.conftest import ADMIN, auth

RETRYABLE = (httpx.TransportError, OSError, asyncio.TimeoutError)


@dataclass
class Worker:
    """One ``facilitation serve`` process on loopback."""

    data_dir: Path
    port: int
    secret: str
    redis_url: str = ""
    heartbeat: float = 2.0
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FACILITATION_")}
        env.update({
            "FACILITATION_DATA_DIR": str(self.data_dir),
            "FACILITATION_ADMIN_TOKEN": ADMIN,
            # Workers behind one balancer share the secret key: a cookie from one is
            # good on the other.
            "FACILITATION_SECRET_KEY": self.secret,
            "FACILITATION_PUBLIC_URL": self.url,
            "FACILITATION_DEMO": "false",
            "FACILITATION_LOG_LEVEL": "warning",
            "FACILITATION_HEARTBEAT_SECONDS": str(self.heartbeat),
            "FACILITATION_REDIS_URL": self.redis_url,
        })
        env.update(self.extra_env)
        return env

    def spawn(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.data_dir / f"worker-{self.port}.log", "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "facilitation.cli", "serve", "--host", "127.0.0.1",
                 "--port", str(self.port)],
                env=self.env(), stdout=log, stderr=subprocess.STDOUT)

    async def start(self) -> Worker:
        await asyncio.to_thread(self.spawn)
        assert self.process is not None
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient(base_url=self.url, timeout=2) as http:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"worker exited: {self.log_tail()}")
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/healthz")).status_code == 200:
                        return self
                if time.monotonic() > deadline:
                    raise TimeoutError(f"worker did not start: {self.log_tail()}")
                await asyncio.sleep(0.05)

    def log_tail(self) -> str:
        logs = sorted(self.data_dir.glob("worker-*.log"))
        return logs[-1].read_text(errors="replace")[-3000:] if logs else ""

    def kill(self) -> None:
        """kill -9: no shutdown at all, as a crash or an OOM kill."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
            self.process = None

    async def terminate(self) -> int:
        """SIGTERM, as systemd or docker stop would: returns the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(self.process.wait, 30)
        self.process = None
        return code

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None


async def until(condition: Callable[[], bool], wait: float = 120) -> None:
    """Poll ``condition`` (set by other tasks) until it holds; fail after ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while not condition():  # noqa: ASYNC110 - the condition is plain state other tasks change
        assert time.monotonic() < deadline, "gave up waiting"
        await asyncio.sleep(0.02)


async def create_event(url: str, rooms: int = 6) -> dict[str, Any]:
    body = {"title": "Fault drill", "rooms": [{"name": f"Room {n}"} for n in range(1, rooms + 1)]}
    async with httpx.AsyncClient(base_url=url, timeout=20) as http:
        answer = await http.post("/api/events", json=body, headers=auth(ADMIN))
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


@dataclass
class View:
    """A stream client that never gives up: it reconnects from its last seq, to any
    worker, and keeps every frame it got (a duplicate or a gap would be a bug)."""

    urls: list[str]
    event_id: str
    token: str
    frames: list[dict[str, Any]] = field(default_factory=list)
    closes: list[int] = field(default_factory=list)
    connects: int = 0
    resets: int = 0
    _task: asyncio.Task[None] | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def last(self) -> int:
        return self.frames[-1]["seq"] if self.frames else 0

    def start(self) -> View:
        self._task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            base = self.urls[attempt % len(self.urls)]
            url = f"{base}/api/events/{self.event_id}/stream?after={self.last}"
            try:
                async with connect(url, additional_headers=auth(self.token),
                                   open_timeout=5, ping_interval=1, ping_timeout=3) as ws:
                    attempt = 0
                    self.connects += 1
                    await self._read(ws)
            except (ConnectionClosed, InvalidHandshake, InvalidStatus, *RETRYABLE) as error:
                if isinstance(error, ConnectionClosed) and error.rcvd is not None:
                    self.closes.append(error.rcvd.code)
                attempt += 1
                await asyncio.sleep(min(0.1 * attempt, 1.0))

    async def _read(self, ws: ClientConnection) -> None:
        while not self._stop.is_set():
            frame = json.loads(await ws.recv())
            if frame.get("type") == "reset":
                self.resets += 1
                continue
            assert frame["seq"] > self.last, f"seq {frame['seq']} after {self.last}: replayed twice"
            self.frames.append(frame)

    async def until(self, seq: int, wait: float = 60) -> None:
        deadline = time.monotonic() + wait
        while self.last < seq:
            assert time.monotonic() < deadline, f"view stuck at {self.last}, wanted {seq}"
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task

    def last_for(self, room: str | None) -> int:
        """The last seq a view of ``room`` (None: every room) should end on, per this view."""
        seqs = [f["seq"] for f in self.frames if room is None or f["room"] in (None, room)]
        return max(seqs, default=0)

    def items(self) -> dict[str, dict[str, Any]]:
        """The board this client shows: the fold of its frames."""
        board: dict[str, dict[str, Any]] = {}
        for frame in self.frames:
            if not frame["type"].startswith("item."):
                continue
            if frame["type"] == "item.deleted":
                board.pop(frame["data"]["id"], None)
            else:
                board[frame["data"]["id"]] = frame["data"]
        return board


@dataclass
class Participant:
    """Submits items with client ids and resends until acknowledged, failing over."""

    urls: list[str]
    event_id: str
    room: dict[str, Any]
    name: str
    acknowledged: dict[str, dict[str, Any]] = field(default_factory=dict)
    submitted: dict[str, dict[str, Any]] = field(default_factory=dict)
    statuses: list[int] = field(default_factory=list)
    failovers: int = 0

    async def submit(self, http: list[httpx.AsyncClient], text: str) -> dict[str, Any]:
        body = {"id": str(uuid.uuid4()), "text": text, "owner": self.name}
        self.submitted[body["id"]] = body
        path = f"/api/events/{self.event_id}/rooms/{self.room['id']}/items"
        attempt = hash(self.name) % len(http)
        while True:
            client = http[attempt % len(http)]
            try:
                answer = await client.post(path, json=body, headers=auth(self.room["join_token"]))
            except RETRYABLE:
                answer = None
            if answer is not None:
                self.statuses.append(answer.status_code)
                if answer.status_code in (200, 201):
                    item: dict[str, Any] = answer.json()
                    assert item["id"] == body["id"] and item["text"] == text
                    self.acknowledged[body["id"]] = item
                    return item
                assert answer.status_code in (429, 502, 503), answer.text
            # Not acknowledged: maybe stored, maybe not. The same id again, elsewhere.
            attempt += 1
            self.failovers += 1
            await asyncio.sleep(0.05 + 0.05 * min(attempt, 10))


async def stored_items(url: str, event: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every room's items as the store has them, read through one worker."""
    out: dict[str, list[dict[str, Any]]] = {}
    async with httpx.AsyncClient(base_url=url, timeout=20) as http:
        for room in event["rooms"]:
            answer = await http.get(f"/api/events/{event['id']}/rooms/{room['id']}",
                                    headers=auth(event["organiser_token"]))
            assert answer.status_code == 200, answer.text
            out[room["id"]] = answer.json()["items"]
    return out


async def event_seq(url: str, event: dict[str, Any]) -> int:
    async with httpx.AsyncClient(base_url=url, timeout=20) as http:
        answer = await http.get(f"/api/events/{event['id']}", headers=auth(event["organiser_token"]))
    return int(answer.json()["seq"])


async def converge(views: list[View], room_of_view: dict[int, str | None], final: int) -> None:
    """Wait until every view has caught up: the whole-event views to ``final``, each
    room view to the last change of its room."""
    whole = [v for n, v in enumerate(views) if room_of_view[n] is None]
    assert whole, "one view must see every room"
    for view in whole:
        await view.until(final)
    for n, view in enumerate(views):
        if room_of_view[n] is not None:
            await view.until(whole[0].last_for(room_of_view[n]))


def assert_exactly_once(
    event: dict[str, Any],
    participants: list[Participant],
    stored: dict[str, list[dict[str, Any]]],
    views: list[View],
    room_of_view: dict[int, str | None],
) -> int:
    """The store and every view hold each acknowledged item once, and nothing else."""
    acknowledged = {i: p.room["id"] for p in participants for i in p.acknowledged}
    submitted = {i for p in participants for i in p.submitted}
    assert set(acknowledged) == submitted  # every participant kept at it until acknowledged
    seen: dict[str, str] = {}
    for room_id, items in stored.items():
        ids = [item["id"] for item in items]
        assert len(ids) == len(set(ids)), "an item is stored twice"
        for item_id in ids:
            assert item_id not in seen, "an item is in two rooms"
            seen[item_id] = room_id
    assert seen == acknowledged  # nothing lost, nothing that was not submitted
    by_id = {item["id"]: item for items in stored.values() for item in items}
    for n, view in enumerate(views):
        room = room_of_view[n]
        shown = view.items()
        expected = {i: item for i, item in by_id.items() if room is None or seen[i] == room}
        assert set(shown) == set(expected), f"view {n} differs from the store"
        for item_id, item in shown.items():
            assert item["text"] == expected[item_id]["text"]
            assert item["version"] == expected[item_id]["version"]
        created = [f["data"]["id"] for f in view.frames if f["type"] == "item.created"]
        assert len(created) == len(set(created)), f"view {n} got an item twice"
    return len(acknowledged)

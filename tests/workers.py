"""Real worker processes on one Redis, and requests that arrive at the same instant.

``Worker`` runs the app as ``uvicorn --factory facilitation.app:app_from_env`` in a
process of its own (what ``facilitation serve --workers N`` and docker compose run),
on its own port. ``simultaneous`` sends each request on an open connection except
its last byte, waits until every server holds its request, then sends all the last
bytes in one go: the servers start on them at the same instant, so a rule that only
one process's memory keeps is caught (a lock, a check then a write across awaits).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.conftest import ADMIN, free_port

SECRET = "race-secret-key-" + "x" * 16


@dataclass
class Worker:
    data_dir: Path
    redis_url: str | None
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FACILITATION_")}
        env.update({
            "FACILITATION_DATA_DIR": str(self.data_dir), "FACILITATION_ADMIN_TOKEN": ADMIN,
            "FACILITATION_SECRET_KEY": SECRET, "FACILITATION_DEMO": "false",
            "FACILITATION_PUBLIC_URL": self.url, "FACILITATION_LOG_LEVEL": "warning",
            "FACILITATION_HOST": "127.0.0.1", "FACILITATION_PORT": str(self.port),
            # The races fire many writes from one token in a moment: not what is tested here.
            "FACILITATION_TOKEN_WRITES_PER_SECOND": "100000",
            "FACILITATION_WRITE_RATE_PER_MINUTE": "100000",
        })
        if self.redis_url:
            env["FACILITATION_REDIS_URL"] = self.redis_url
        env.update(self.extra_env)
        return env

    def command(self) -> list[str]:
        return [sys.executable, "-m", "uvicorn", "--factory", "facilitation.app:app_from_env",
                "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning",
                "--ws", "facilitation.wsproto:DirectWebSocketProtocol", "--no-access-log"]

    async def start(self) -> Worker:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.data_dir / "worker.log"
        with log.open("wb") as out:
            self.process = await asyncio.to_thread(
                subprocess.Popen, self.command(), env=self.env(), stdout=out,
                stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient(timeout=2) as http:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"worker exited: {log.read_text()[-3000:]}")
                try:
                    if (await http.get(f"{self.url}/healthz")).status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError("worker did not start")
                await asyncio.sleep(0.1)

    async def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                await asyncio.to_thread(self.process.wait, 20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                await asyncio.to_thread(self.process.wait, 10)
        self.process = None


@dataclass
class Request:
    worker: Worker
    method: str
    path: str
    token: str
    body: Any = None


@dataclass
class Answer:
    status: int
    body: Any


def _raw(request: Request) -> bytes:
    body = b"" if request.body is None else orjson.dumps(request.body)
    head = (f"{request.method} {request.path} HTTP/1.1\r\nHost: 127.0.0.1:{request.worker.port}\r\n"
            f"Authorization: Bearer {request.token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    return head + body


async def simultaneous(requests: list[Request], hold: float = 0.15,
                       lag: dict[int, float] | None = None) -> list[Answer]:
    """Send every request but its last byte, hold them ``hold`` seconds (each server
    has read its request's head by then and waits for the body), then release all
    the last bytes at once, with no await between them.

    ``lag`` (request index -> seconds) releases some a moment later: requests whose
    handlers take different paths (a rotation reads more than a room edit) reach
    their critical steps at different times, and sweeping a lag of a millisecond or
    two over the rounds lines those steps up."""
    streams = [await asyncio.open_connection("127.0.0.1", r.worker.port) for r in requests]
    raws = [_raw(r) for r in requests]
    for (_, writer), raw in zip(streams, raws, strict=True):
        writer.write(raw[:-1])
    for _, writer in streams:
        await writer.drain()
    await asyncio.sleep(hold)
    lag = lag or {}
    start = time.perf_counter()
    for index in sorted(range(len(requests)), key=lambda i: lag.get(i, 0.0)):
        while time.perf_counter() - start < lag.get(index, 0.0):
            pass  # a busy wait: sleeping would round the lag up to the loop's clock
        streams[index][1].write(raws[index][-1:])
    answers = []
    for reader, writer in streams:
        data = await asyncio.wait_for(reader.read(), 30)
        writer.close()
        head, _, body = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        if b"transfer-encoding: chunked" in head.lower():
            body = _unchunk(body)
        answers.append(Answer(status, orjson.loads(body) if body.strip() else None))
    return answers


def _unchunk(body: bytes) -> bytes:
    out = b""
    while body:
        size, _, rest = body.partition(b"\r\n")
        n = int(size, 16)
        if n == 0:
            break
        out += rest[:n]
        body = rest[n + 2:]
    return out

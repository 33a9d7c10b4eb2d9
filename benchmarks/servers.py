"""Start, probe and stop the servers under test: the app and the two baselines.

Every server runs as a subprocess of the coordinator on 127.0.0.1 with a fresh data
folder, so a run never touches anyone's data and leaves nothing running behind it.
CPU and RSS are read with psutil over the server's whole process tree (uvicorn's
`--workers` supervisor and its workers), which is what a deployment pays for.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from benchmarks.baselines.common import ADMIN_TOKEN

HOST = "127.0.0.1"
# Where servers get their fresh data folders; run.py's --data-root changes it (e.g. /dev/shm,
# to see what the disk's fsync adds to the app's durable writes).
DATA_ROOT: str | None = None
REPO = Path(__file__).resolve().parent.parent


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the coordinator dies, so no server outlives a run."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """One server under test, as the generator and the coordinator see it."""

    name: str
    argv: list[str]
    http_port: int
    ws_port: int
    env: dict[str, str] = field(default_factory=dict)
    admin_token: str = ADMIN_TOKEN
    proc: subprocess.Popen[bytes] | None = None
    workdir: Path | None = None

    def start(self, timeout: float = 60.0) -> Server:
        self.workdir = Path(tempfile.mkdtemp(prefix=f"bench-{self.name}-", dir=DATA_ROOT))
        env = {**os.environ, **self.env}
        env.setdefault("FACILITATION_DATA_DIR", str(self.workdir / "data"))
        log = (self.workdir / "server.log").open("wb")
        # Its own session, so that stop() can signal the whole tree by this group id only.
        self.proc = subprocess.Popen(self.argv, env=env, cwd=REPO, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     preexec_fn=_die_with_parent)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start-up:\n{self.log_tail()}")
            try:
                self.health()
                return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer /healthz:\n{self.log_tail()}")

    def health(self) -> dict[str, Any]:
        url = f"http://{HOST}:{self.http_port}/healthz"
        with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 - loopback only
            return dict(json.loads(r.read()))

    def log_tail(self, lines: int = 30) -> str:
        if self.workdir is None or not (self.workdir / "server.log").exists():
            return ""
        text = (self.workdir / "server.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def _tree(self) -> list[psutil.Process]:
        if self.proc is None:
            return []
        try:
            root = psutil.Process(self.proc.pid)
            return [root, *root.children(recursive=True)]
        except psutil.Error:
            return []

    def pids(self) -> list[int]:
        return [p.pid for p in self._tree()]

    def cpu_seconds(self) -> float:
        total = 0.0
        for p in self._tree():
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
        return total

    def rss_bytes(self) -> int:
        total = 0
        for p in self._tree():
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


def app_binary() -> list[str]:
    """The console script next to this interpreter, else the one on PATH."""
    local = Path(sys.executable).parent / "facilitation"
    if local.exists():
        return [str(local)]
    found = shutil.which("facilitation")
    if found:
        return [found]
    return [sys.executable, "-m", "facilitation.cli"]


def app(workers: int = 1, redis_url: str | None = None, extra_env: dict[str, str] | None = None,
        name: str = "app") -> Server:
    port = free_port()
    argv = [*app_binary(), "serve", "--host", HOST, "--port", str(port)]
    if workers > 1:
        argv += ["--workers", str(workers)]
    env = {
        "FACILITATION_ADMIN_TOKEN": ADMIN_TOKEN,
        "FACILITATION_PUBLIC_URL": f"http://{HOST}:{port}",
        "FACILITATION_DEMO": "false",  # an empty server: only the benchmark's own event
        # The generator's writers in one room share that room's join token (real people each
        # have their own session), so the per-token abuse limits are lifted; every other
        # setting is the app's default.
        "FACILITATION_WRITE_RATE_PER_MINUTE": "100000000",
        "FACILITATION_TOKEN_WRITES_PER_SECOND": "1000000",
        "FACILITATION_MAX_SOCKETS_PER_SESSION": "100000",
        **(extra_env or {}),
    }
    if redis_url:
        env["FACILITATION_REDIS_URL"] = redis_url
    return Server(name, argv, port, port, env)


def limit() -> Server:
    port, ws_port = free_port(), free_port()
    argv = [sys.executable, "-m", "benchmarks.baselines.limit", "--port", str(port),
            "--ws-port", str(ws_port)]
    return Server("limit", argv, port, ws_port)


def usual() -> Server:
    port = free_port()
    argv = [sys.executable, "-m", "benchmarks.baselines.usual", "--port", str(port)]
    return Server("usual", argv, port, port)


def flush_redis(url: str) -> None:
    """Empty the benchmark's own Redis database (never db 0 by default) before a run."""
    import redis

    redis.Redis.from_url(url).flushdb()


def create_event(server: Server, rooms: int, title: str = "Benchmark event") -> dict[str, Any]:
    body = {"title": title, "rooms": [{"name": f"Room {i + 1}", "prompt": "What next?"}
                                      for i in range(rooms)], "goals": ["Goal A", "Goal B"]}
    req = urllib.request.Request(
        f"http://{HOST}:{server.http_port}/api/events", data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {server.admin_token}",
                 "Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:  # noqa: S310 - http://127.0.0.1 only
        if r.status != 201:
            raise RuntimeError(f"POST /api/events answered {r.status}")
        return dict(json.loads(r.read()))

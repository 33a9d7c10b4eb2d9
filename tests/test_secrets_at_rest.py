"""Tokens at rest and in output: an owner-only data folder and database, no token in
the output of a non-interactive server (docker compose logs), ``links`` on demand.

The server runs as an operator runs it: ``facilitation serve`` in a subprocess, its
standard output a pipe (as under docker compose or systemd) or a terminal (a pty).
"""

from __future__ import annotations

import os
import pty
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import free_port

TOKEN = re.compile(r"[?&]t=([A-Za-z0-9_-]{20,})")


def environ(data_dir: Path, port: int) -> dict[str, str]:
    env = {**os.environ, "FACILITATION_DATA_DIR": str(data_dir), "FACILITATION_PORT": str(port),
           "FACILITATION_DEMO": "true", "FACILITATION_LOG_LEVEL": "info"}
    for name in ("FACILITATION_REDIS_URL", "FACILITATION_ADMIN_TOKEN", "FACILITATION_SECRET_KEY"):
        env.pop(name, None)
    return env


def cli(args: list[str], data_dir: Path) -> str:
    done = subprocess.run([sys.executable, "-m", "facilitation.cli", *args], capture_output=True,
                          text=True, timeout=60, env=environ(data_dir, 0))
    assert done.returncode == 0, done.stderr
    return done.stdout


def wait_healthy(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server exited"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError("the server did not start")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def old_umask() -> object:
    previous = os.umask(0o022)  # the usual umask: files 0644, folders 0755 unless we say
    yield
    os.umask(previous)


def test_a_first_start_without_a_terminal_prints_no_token_and_links_prints_them(
    tmp_path: Path, old_umask: object
) -> None:
    data, port = tmp_path / "data", free_port()
    log = (tmp_path / "out.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "facilitation.cli", "serve"], stdout=log,
                            stderr=subprocess.STDOUT, env=environ(data, port))
    try:
        wait_healthy(port, proc)
        event_id = cli(["events"], data).split()[0]
        links = cli(["links", event_id], data)
        tokens = set(TOKEN.findall(links))
        assert len(tokens) >= 3  # organiser, plenary, every room
        join = next(line for line in links.splitlines() if "/r/" in line).split(": ", 1)[1]
        room_url, token = join.split("?t=")
        room_path = urlsplit(room_url).path
        # Link openings as browsers and mail clients write them: plain, encoded, twice.
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
            for query in (f"t={token}", f"%74={token}", f"after=1&%74={token}",
                          f"t=x&t={token}", f"T=1&t={token}"):
                opened = http.get(f"{room_path}?{query}")
                assert opened.status_code in (303, 401), query
            assert http.get(f"{room_path}?%74={token}").status_code == 303
    finally:
        stop(proc)
        log.close()
    out = (tmp_path / "out.log").read_text()
    admin = (data / "admin_token").read_text().strip()
    for secret in (*tokens, admin):
        assert secret not in out, "a token reached the server's output"
    assert f"facilitation links {event_id}" in out
    assert "admin_token" in out and "[redacted]" in out
    assert '"GET /e/' in out  # the access log was on: the redaction was tested, not skipped
    # At rest: the folder and every database file are the owner's only.
    assert mode(data) == 0o700
    for name in ("facilitation.sqlite3", "facilitation.sqlite3-wal", "admin_token", "secret_key"):
        if (data / name).exists():
            assert mode(data / name) == 0o600, name


def test_a_first_start_on_a_terminal_shows_the_demo_links_and_the_admin_token(
    tmp_path: Path, old_umask: object
) -> None:
    data, port = tmp_path / "data", free_port()
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "facilitation.cli", "serve"], stdout=slave,
                            stderr=subprocess.DEVNULL, env=environ(data, port))
    os.close(slave)
    try:
        wait_healthy(port, proc)
        out = b""
        while b"facilitation is serving" not in out:
            out += os.read(master, 65536)
    finally:
        stop(proc)
        os.close(master)
    text = out.decode()
    assert (data / "admin_token").read_text().strip() in text
    assert "/moderate?t=" in text and "/r/" in text


def test_a_database_made_before_the_rule_becomes_owner_only(tmp_path: Path, old_umask: object) -> None:
    data = tmp_path / "data"
    cli(["create-event", "--title", "Before", "--room", "A"], data)
    os.chmod(data, 0o755)  # noqa: S103 - as a folder made before the rule was
    os.chmod(data / "facilitation.sqlite3", 0o644)
    cli(["create-event", "--title", "After", "--room", "A"], data)  # opens it for writing
    assert mode(data) == 0o700 and mode(data / "facilitation.sqlite3") == 0o600

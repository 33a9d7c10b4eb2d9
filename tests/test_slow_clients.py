"""Slow clients: a request's head must arrive within a deadline (facilitation/web/httpguard.py).

Fifty connections that trickle their headers one byte at a time (Slowloris) are
answered 408 and closed at the deadline, while everyone else is served meanwhile.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from facilitation.web import httpguard
from tests.conftest import Server


async def test_connections_that_trickle_their_headers_are_closed_at_the_deadline(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(httpguard, "HEAD_SECONDS", 1.0)
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200

    async def slow_client() -> tuple[float, bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.settings.port)
        started = time.monotonic()
        answer = b""
        try:
            for byte in head:
                writer.write(bytes([byte]))
                await writer.drain()
                try:
                    answer += await asyncio.wait_for(reader.read(1024), 0.1)
                except TimeoutError:
                    continue
                if not answer or reader.at_eof():
                    break
            answer += await reader.read()  # until the server closes
        except ConnectionError:
            # A byte written after the server's close draws a reset; the 408 it sent
            # first has been read by then (asserted below).
            pass
        writer.close()
        return time.monotonic() - started, answer

    async def silent_client() -> float:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.settings.port)
        started = time.monotonic()
        await reader.read()  # nothing sent at all
        writer.close()
        return time.monotonic() - started

    slow = [asyncio.create_task(slow_client()) for _ in range(50)]
    silent = [asyncio.create_task(silent_client()) for _ in range(5)]
    # Meanwhile the server answers everyone else.
    async with httpx.AsyncClient(base_url=server.url, timeout=5) as http:
        for _ in range(5):
            assert (await http.get("/healthz")).status_code == 200
            await asyncio.sleep(0.1)
    for seconds, answer in await asyncio.wait_for(asyncio.gather(*slow), 30):
        assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
        assert seconds < 10  # the head alone would take 20 s at this pace
    for seconds in await asyncio.wait_for(asyncio.gather(*silent), 30):
        assert seconds < 10


async def test_a_slow_but_complete_head_and_a_keep_alive_connection_are_served(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(httpguard, "HEAD_SECONDS", 2.0)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.settings.port)
    for _ in range(3):  # each request of the connection gets its own deadline
        for part in (b"GET /healthz HTTP/1.1\r\n", b"Host: x\r\n", b"\r\n"):
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(0.4)
        status = await reader.readuntil(b"\r\n\r\n")
        assert status.startswith(b"HTTP/1.1 200")
        length = int(next(line.split(b":")[1] for line in status.split(b"\r\n")
                          if line.lower().startswith(b"content-length")))
        await reader.readexactly(length)
    writer.close()

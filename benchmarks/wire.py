"""Minimal HTTP/1.1 and websocket clients for the load generator.

Why not httpx / the websockets client: the generator shares a 2-core machine with the
server under test, so every microsecond it spends per frame is taken from the server.
These clients do the least a real client must do (a real TCP socket, a real RFC 6455
handshake, unmasked server frames parsed, masked pongs and closes sent back) and
nothing else: no compression is offered, no per-message task, no UTF-8 validation.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import time
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import urlencode

import orjson

# The text every benchmark item carries: "bench <submit monotonic ns> <writer id>".
# Parsed straight out of the raw frame so that a screen never JSON-decodes a frame.
BENCH_RE = re.compile(rb"bench (\d+) (\d+)")
# Every frame of the app and of the baselines starts with its sequence number.
SEQ_RE = re.compile(rb'^\{"seq":(\d+)')


class Track:
    """One screen's whole history across reconnects (scenario g): the last seq it saw,
    frames out of order or repeated, and every bench item it got, with when."""

    def __init__(self) -> None:
        self.last_seq = 0
        self.disorder = 0  # a frame whose seq was not above the one before it
        self.items: dict[tuple[int, int], list[int]] = {}  # (wid, sent) -> [count, first ns]

    def frame(self, payload: bytes, now_ns: int) -> None:
        seq = SEQ_RE.match(payload)
        if seq is not None:
            n = int(seq[1])
            if n <= self.last_seq:
                self.disorder += 1
            else:
                self.last_seq = n
        match = BENCH_RE.search(payload)
        if match is not None:
            key = (int(match[2]), int(match[1]))
            seen = self.items.get(key)
            if seen is None:
                self.items[key] = [1, now_ns]
            else:
                seen[0] += 1


class HttpError(Exception):
    """The connection broke or the answer could not be parsed."""


class HttpClient:
    """One keep-alive HTTP/1.1 connection; one request in flight at a time."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        on_first_byte: Callable[[], None] | None = None,
        form: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """Send one request (a JSON body, or a form); return (status, lower-cased headers, body)."""
        payload = b"" if body is None else orjson.dumps(body)
        if form is not None:
            payload = urlencode(form).encode()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        if token:
            lines.append(f"Authorization: Bearer {token}")
        if body is not None:
            lines.append("Content-Type: application/json")
        elif form is not None:
            lines.append("Content-Type: application/x-www-form-urlencoded")
        if payload or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(payload)}")
        for key, value in (headers or {}).items():
            lines.append(f"{key}: {value}")
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + payload
        for attempt in (0, 1):
            # A keep-alive connection the server closed while idle fails on first use;
            # one silent reconnect is what every HTTP client does.
            if self._writer is None:
                await self._connect()
            assert self._reader is not None and self._writer is not None
            try:
                self._writer.write(raw)
                return await self._read_response(on_first_byte)
            except (ConnectionError, asyncio.IncompleteReadError, HttpError):
                await self.close()
                if attempt:
                    raise
        raise HttpError("unreachable")

    async def _read_response(
        self, on_first_byte: Callable[[], None] | None
    ) -> tuple[int, dict[str, str], bytes]:
        assert self._reader is not None
        if on_first_byte is not None:
            first = await self._reader.readexactly(1)  # time to first byte, then the rest
            on_first_byte()
            head = first + await self._reader.readuntil(b"\r\n\r\n")
        else:
            head = await self._reader.readuntil(b"\r\n\r\n")
        status_line, _, rest = head.partition(b"\r\n")
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
            raise HttpError(f"bad status line {status_line!r}")
        status = int(parts[1])
        hdrs: dict[str, str] = {}
        for line in rest.split(b"\r\n"):
            if b":" in line:
                k, _, v = line.partition(b":")
                name, value = k.decode().strip().lower(), v.decode().strip()
                # Repeated headers (Set-Cookie) are kept, one per line.
                hdrs[name] = f"{hdrs[name]}\n{value}" if name in hdrs else value
        if "content-length" in hdrs:
            data = await self._reader.readexactly(int(hdrs["content-length"]))
        elif hdrs.get("transfer-encoding", "").lower() == "chunked":
            data = await self._read_chunked()
        elif status in (204, 304) or 100 <= status < 200:
            data = b""
        else:
            data = await self._reader.read()  # body until close
            await self.close()
        if hdrs.get("connection", "").lower() == "close":
            await self.close()
        return status, hdrs, data

    async def _read_chunked(self) -> bytes:
        assert self._reader is not None
        chunks: list[bytes] = []
        while True:
            size_line = await self._reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                await self._reader.readuntil(b"\r\n")  # trailer end (no trailers expected)
                return b"".join(chunks)
            chunks.append(await self._reader.readexactly(size))
            await self._reader.readexactly(2)


class Arrivals:
    """What one generator process saw: per item, how many screens got it and when the last did."""

    def __init__(self) -> None:
        # (writer id, submit ns) -> [count, latest arrival ns]
        self.items: dict[tuple[int, int], list[int]] = {}
        self.latencies_ns: list[int] = []  # one per delivery
        self.other_frames = 0

    def record(self, payload: bytes, now_ns: int) -> None:
        match = BENCH_RE.search(payload)
        if match is None:
            self.other_frames += 1
            return
        sent = int(match[1])
        key = (int(match[2]), sent)
        entry = self.items.get(key)
        if entry is None:
            self.items[key] = [1, now_ns]
        else:
            entry[0] += 1
            if now_ns > entry[1]:
                entry[1] = now_ns
        self.latencies_ns.append(now_ns - sent)

    def take(self) -> tuple[dict[tuple[int, int], list[int]], list[int], int]:
        """Hand over what was seen so far and start afresh (one ramp step each)."""
        out = (self.items, self.latencies_ns, self.other_frames)
        self.items, self.latencies_ns, self.other_frames = {}, [], 0
        return out


class WsScreen(asyncio.Protocol):
    """A read-only websocket client: a participant's laptop or a plenary screen."""

    def __init__(self, host: str, port: int, path: str, token: str | None, arrivals: Arrivals,
                 track: Track | None = None):
        self.host, self.port, self.path, self.token = host, port, path, token
        self.arrivals = arrivals
        self.track = track
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed = False
        self.close_reason = ""
        self._buf = bytearray()
        self._handshaking = True
        self._fragments: list[bytes] = []
        self._key = base64.b64encode(os.urandom(16)).decode()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = cast(asyncio.Transport, transport)
        lines = [
            f"GET {self.path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {self._key}",
            "Sec-WebSocket-Version: 13",
        ]
        if self.token:
            lines.append(f"Authorization: Bearer {self.token}")
        self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed:
            self.closed = True
            self.close_reason = self.close_reason or f"connection lost: {exc!r}"
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(self.close_reason))

    def data_received(self, data: bytes) -> None:
        # One timestamp per read: frames that arrive in one segment arrived together.
        now = time.monotonic_ns()
        buf = self._buf
        buf += data
        if self._handshaking:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buf[: buf.find(b"\r\n")])
            del buf[: end + 4]
            self._handshaking = False
            if b" 101 " not in status + b" ":
                self.close_reason = f"handshake refused: {status.decode(errors='replace')}"
                self.closed = True
                if self.transport is not None:
                    self.transport.close()
                return
            self.opened.set_result(None)
        pos, size = 0, len(buf)
        while size - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length, head = b1 & 0x7F, 2
            if length == 126:
                if size - pos < 4:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            if b1 & 0x80:
                head += 4  # servers must not mask; tolerate it rather than crash
            if size - pos < head + length:
                break
            payload = bytes(buf[pos + head : pos + head + length])
            pos += head + length
            self._frame(b0 & 0x80 != 0, b0 & 0x0F, payload, now)
        if pos:
            del buf[:pos]

    def _frame(self, fin: bool, opcode: int, payload: bytes, now: int) -> None:
        if opcode in (0x1, 0x2, 0x0):
            if not fin:
                self._fragments.append(payload)
                return
            if self._fragments:
                payload = b"".join([*self._fragments, payload])
                self._fragments.clear()
            self.arrivals.record(payload, now)
            if self.track is not None:
                self.track.frame(payload, now)
        elif opcode == 0x9:  # ping: a client that does not pong gets dropped by the server
            self._send(0xA, payload)
        elif opcode == 0x8:
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self.close_reason = f"closed by server: {code} {payload[2:].decode(errors='replace')}"
            self.closed = True
            self._send(0x8, payload[:2])
            if self.transport is not None:
                self.transport.close()

    def _send(self, opcode: int, payload: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        # Control frames are < 126 bytes by the RFC, so the short length form suffices.
        self.transport.write(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)

    def drop(self) -> None:
        """Lose the connection as a Wi-Fi drop does for the server: no close frame."""
        if not self.closed:
            self.closed = True
            self.close_reason = "dropped by client"
            if self.transport is not None:
                self.transport.abort()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.close_reason = "closed by client"
            self._send(0x8, (1000).to_bytes(2, "big"))
            if self.transport is not None:
                self.transport.close()


async def open_screen(
    host: str, port: int, path: str, token: str | None, arrivals: Arrivals, limit_s: float = 30.0,
    track: Track | None = None,
) -> WsScreen:
    """Connect and complete the handshake; raise on refusal or timeout."""
    loop = asyncio.get_running_loop()
    holder: list[WsScreen] = []

    def factory() -> WsScreen:
        holder.append(WsScreen(host, port, path, token, arrivals, track))
        return holder[0]

    await asyncio.wait_for(loop.create_connection(factory, host, port), limit_s)
    screen = holder[0]
    await asyncio.wait_for(asyncio.shield(screen.opened), limit_s)
    if screen.closed:
        raise ConnectionError(screen.close_reason)
    return screen

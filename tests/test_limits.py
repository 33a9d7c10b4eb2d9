"""Size limits, rate limits and socket caps, with the answers the contract promises."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import connect

from facilitation import limits
from tests.conftest import Server, auth, free_port, item_body, make_settings, new_event
from tests.test_room_page import join, room_path
from tests.test_security import closed_with, cookie_of, snapshot


@pytest.fixture(autouse=True)
def stopped_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Buckets do not refill during these tests, however slowly a loaded machine runs them."""
    monkeypatch.setattr(limits, "clock", lambda: 1_000_000.0)


@pytest.fixture(scope="module")
async def tight(tmp_root: Path) -> AsyncIterator[Server]:
    """A server with small limits, so a test can reach each one quickly."""
    port = free_port()
    settings = make_settings(
        tmp_root / f"tight-{port}", port, write_rate_per_minute=60, token_writes_per_second=5,
        max_sockets_per_session=2, max_sockets=8, socket_messages_per_minute=60)
    running = await Server(settings).start()
    yield running
    await running.stop()


async def test_writes_are_limited_per_browser_session_not_per_address_or_link(
    tight: Server,
) -> None:
    async with httpx.AsyncClient(base_url=tight.url) as http:
        event = await new_event(http)
    room = event["rooms"][0]
    first, second = await join(tight, room, "Ada"), await join(tight, room, "Bo")
    base = room_path(event, room)
    hx = {"hx-request": "true"}
    accepted = 0
    for n in range(30):  # a burst of 3 per session (giving one's name was the first), 1/s
        limited = await first.post(f"{base}/items", headers=hx,
                                   data={"id": item_body()["id"], "text": f"fast {n}"})
        if limited.status_code != 201:
            break
        accepted += 1
    assert accepted >= 2
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert 'id="toasts"' in limited.text and limited.headers["hx-reswap"] == "none"
    # Without htmx the same refusal is a friendly page (the bucket may have refilled by one
    # on a slow machine: the next post empties it again).
    for _ in range(5):
        page = await first.post(f"{base}/items", data={"id": item_body()["id"], "text": "again"})
        if page.status_code == 429:
            break
    assert page.status_code == 429 and "text/html" in page.headers["content-type"]
    assert "Slow down" in page.text and page.headers["retry-after"]
    # Someone else in the same room, same link, same address, is not held back.
    other = await second.post(f"{base}/items", headers=hx,
                              data={"id": item_body()["id"], "text": "mine"})
    assert other.status_code == 201
    await first.aclose()
    await second.aclose()


async def test_writes_through_one_token_have_a_ceiling_with_retry_after(tight: Server) -> None:
    async with httpx.AsyncClient(base_url=tight.url) as http:
        event = await new_event(http)
        room = event["rooms"][0]
        url = f"/api/events/{event['id']}/rooms/{room['id']}/items"
        statuses = []
        for n in range(60):  # 5/s with a burst of 10
            answer = await http.post(url, json=item_body(f"n{n}"), headers=auth(room["join_token"]))
            statuses.append(answer.status_code)
            if answer.status_code != 201:
                break
        assert statuses[:10] == [201] * 10
        assert statuses[-1] == 429
        assert answer.json()["error"]["code"] == "rate_limited"
        assert int(answer.headers["retry-after"]) >= 1
        state = await http.get(f"/api/events/{event['id']}/rooms/{room['id']}",
                               headers=auth(room["join_token"]))
        assert len(state.json()["items"]) == statuses.count(201)
        # Another room's token has its own budget.
        other = event["rooms"][1]
        fine = await http.post(f"/api/events/{event['id']}/rooms/{other['id']}/items",
                               json=item_body(), headers=auth(other["join_token"]))
        assert fine.status_code == 201


async def test_sockets_are_capped_per_browser_session_and_per_worker(tight: Server) -> None:
    async with httpx.AsyncClient(base_url=tight.url) as http:
        event = await new_event(http)
    room = event["rooms"][0]
    browser = await join(tight, room)
    page = f"{tight.ws_url}{room_path(event, room)}/live?after=1"
    headers = {"cookie": cookie_of(browser), "origin": tight.url}
    mine = [await connect(page, additional_headers=headers) for _ in range(2)]
    third = await connect(page, additional_headers=headers)
    assert await closed_with(third) == 1013  # try again later: the page backs off and retries
    # Bearer clients share one token by design: they count only toward the worker's cap.
    stream = f"{tight.ws_url}/api/events/{event['id']}/stream?after=0"
    api = [await connect(stream, additional_headers=auth(room["join_token"])) for _ in range(6)]
    over = await connect(stream, additional_headers=auth(room["join_token"]))
    assert await closed_with(over) == 1013
    for ws in mine + api:
        await ws.close()
    # Closed sockets free their places.
    await asyncio.sleep(0.2)
    async with connect(page, additional_headers=headers) as again:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(again.recv(), 0.3)
    await browser.aclose()


async def test_a_client_flooding_its_socket_is_closed(tight: Server) -> None:
    async with httpx.AsyncClient(base_url=tight.url) as http:
        event = await new_event(http)
    stream = f"{tight.ws_url}/api/events/{event['id']}/stream?after=1"
    async with connect(stream, additional_headers=auth(event["plenary_token"])) as ws:
        for n in range(30):
            try:
                await ws.send(f"message {n}")
            except websockets.ConnectionClosed:
                break
        assert await closed_with(ws) == 1008


async def test_oversized_bodies_are_413_everywhere(
    server: Server, client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    room = event["rooms"][0]
    url = f"/api/events/{event['id']}/rooms/{room['id']}/items"
    before = await snapshot(client, event)
    huge = json.dumps(item_body("x" * 70_000)).encode()
    declared = await client.post(url, content=huge, headers=auth(room["join_token"]))
    assert declared.status_code == 413 and declared.json()["error"]["code"] == "too_large"

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b" " * 8192

    streamed = await client.post(url, content=chunks(), headers=auth(room["join_token"]))
    assert streamed.status_code == 413 and streamed.json()["error"]["code"] == "too_large"
    made = await client.post("/api/events", content=huge, headers=auth("test-admin-token"))
    assert made.status_code == 413
    browser = await join(server, room)
    form = await browser.post(f"{room_path(event, room)}/items",
                              data={"id": item_body()["id"], "text": "x" * 70_000})
    assert form.status_code == 413 and "text/html" in form.headers["content-type"]
    toast = await browser.post(f"{room_path(event, room)}/items", headers={"hx-request": "true"},
                               data={"id": item_body()["id"], "text": "x" * 70_000})
    assert toast.status_code == 413 and 'id="toasts"' in toast.text
    assert await snapshot(client, event) == before
    await browser.aclose()


async def test_an_oversized_websocket_frame_is_closed_with_1009(
    server: Server, event: dict[str, Any]
) -> None:
    stream = f"{server.ws_url}/api/events/{event['id']}/stream?after=1"
    async with connect(stream, additional_headers=auth(event["plenary_token"]),
                       max_size=None) as ws:
        await ws.send("x" * (64 * 1024 + 1))
        assert await closed_with(ws) == 1009
    # Exactly at the limit is fine.
    async with connect(stream, additional_headers=auth(event["plenary_token"])) as ws:
        await ws.send("x" * (64 * 1024))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.3)


# -- malformed frames, straight on the wire ---------------------------------------------


async def raw_socket(server: Server, path: str, headers: dict[str, str]) -> tuple[
        asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.settings.port)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{server.settings.port}",
             "Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
             "Sec-WebSocket-Version: 13", *(f"{k}: {v}" for k, v in headers.items())]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    status = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert status.startswith(b"HTTP/1.1 101"), status
    return reader, writer


def frame(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0, mask: bool = True,
          length: int | None = None) -> bytes:
    size = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    bit = 0x80 if mask else 0
    if size < 126:
        head += bytes([bit | size])
    elif size < 65536:
        head += bytes([bit | 126]) + struct.pack("!H", size)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", size)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


async def close_code_on_wire(reader: asyncio.StreamReader) -> int | None:
    """Read server frames until a close frame (its code) or EOF (None)."""
    while True:
        try:
            head = await asyncio.wait_for(reader.readexactly(2), 5)
        except asyncio.IncompleteReadError:
            return None
        size = head[1] & 0x7F
        if size == 126:
            size = struct.unpack("!H", await reader.readexactly(2))[0]
        elif size == 127:
            size = struct.unpack("!Q", await reader.readexactly(8))[0]
        payload = await reader.readexactly(size)
        if head[0] & 0x0F == 0x8:
            return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005


MALFORMED = {
    "invalid utf-8 text": (frame(0x1, b"\xff\xfe\xfd"), 1007),
    "reserved bits set": (frame(0x1, b"hi", rsv=0b100), 1002),
    "unknown opcode": (frame(0x3, b"?"), 1002),
    "unmasked client frame": (frame(0x1, b"hi", mask=False), 1002),
    "declared 2^62 bytes": (frame(0x2, b"", length=2**62), 1009),
    "fragmented control frame": (frame(0x9, b"ping", fin=False), 1002),
    "continuation without start": (frame(0x0, b"tail"), 1002),
}


@pytest.mark.parametrize("name", list(MALFORMED))
async def test_malformed_frames_close_the_socket_and_nothing_else(
    name: str, server: Server, client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    data, expected = MALFORMED[name]
    before = await snapshot(client, event)
    path = f"/api/events/{event['id']}/stream?after=1"
    reader, writer = await raw_socket(server, path, auth(event["organiser_token"]))
    writer.write(data)
    await writer.drain()
    assert await close_code_on_wire(reader) == expected
    writer.close()
    # The worker is still there and nothing stored changed.
    assert (await client.get("/healthz")).status_code == 200
    assert await snapshot(client, event) == before
    async with connect(f"{server.ws_url}{path}",
                       additional_headers=auth(event["organiser_token"])) as ws:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.2)


async def test_binary_and_junk_messages_are_ignored(
    server: Server, client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    before = await snapshot(client, event)
    room = event["rooms"][5]
    path = f"{server.ws_url}/api/events/{event['id']}/stream?after=1"
    async with connect(path, additional_headers=auth(room["join_token"])) as ws:
        for junk in (b"\x00\x01", '{"type": "item.created", "data": {"text": "x"}}', "", "[]"):
            await ws.send(junk)
        await client.post(f"/api/events/{event['id']}/rooms/{room['id']}/items",
                          json=item_body("still live"), headers=auth(room["join_token"]))
        pushed = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert pushed["data"]["text"] == "still live"
    after = await snapshot(client, event)
    assert after[-1]["items"][0]["text"] == "still live"
    assert [(r["items"], r["roles"]) for r in after[:-1]] == [
        (r["items"], r["roles"]) for r in before[:-1]]


async def test_default_limits_let_a_load_test_through_one_join_token(
    server: Server, client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    """Hundreds of sockets and a burst of writes on ONE join token from ONE address."""
    room = event["rooms"][1]
    stream = f"{server.ws_url}/api/events/{event['id']}/stream?after=1"
    sockets = await asyncio.gather(*(
        # max_queue=None: frames left unread must not stall the client's close.
        connect(stream, additional_headers=auth(room["join_token"]), max_queue=None)
        for _ in range(300)))
    url = f"/api/events/{event['id']}/rooms/{room['id']}/items"
    answers = await asyncio.gather(*(
        client.post(url, json=item_body(f"load {n}"), headers=auth(room["join_token"]))
        for n in range(150)))
    assert all(a.status_code == 201 for a in answers), {a.status_code for a in answers}
    for ws in sockets[:: 60]:
        seen = 0
        while seen < 150:
            frame_ = json.loads(await asyncio.wait_for(ws.recv(), 10))
            seen += frame_["type"] == "item.created"
    await asyncio.gather(*(ws.close() for ws in sockets))


async def test_malformed_bodies_are_4xx_without_a_traceback(
    server: Server, client: httpx.AsyncClient, event: dict[str, Any], caplog: Any
) -> None:
    import logging

    room = event["rooms"][1]
    before = await snapshot(client, event)
    url = f"/api/events/{event['id']}/rooms/{room['id']}/items"
    token = auth(room["join_token"])
    bodies: list[tuple[bytes, dict[str, str]]] = [
        (b"\xff\xfe\x00garbage", {}),
        (b'{"id": "' + b"\xc3\x28" + b'", "text": "x"}', {"content-type": "application/json"}),
        (b"[" * 20_000 + b"]" * 20_000, {}),
        (b'{"id": "6f1c3b8e-2f6e-4a1e-9a57-0c1c2f1b7e11", "text": "x", "__proto__": {}}', {}),
        (b'{"id": "6f1c3b8e-2f6e-4a1e-9a57-0c1c2f1b7e12", "text": NaN}', {}),
        (b'{"id": 1e999999, "text": "x"}', {}),
        (b"null", {}),
        (b'"just a string"', {}),
        (b"id=x&text=y", {"content-type": "application/x-www-form-urlencoded"}),
        (b"--b\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nx\r\n--b--",
         {"content-type": "multipart/form-data; boundary=b"}),
    ]
    with caplog.at_level(logging.WARNING):
        for body, headers in bodies:
            answer = await client.post(url, content=body, headers={**token, **headers})
            assert 400 <= answer.status_code < 500, (body[:40], answer.status_code)
            assert answer.json()["error"]["message"]
            patched = await client.patch(f"{url}/6f1c3b8e-2f6e-4a1e-9a57-0c1c2f1b7e13",
                                         content=body, headers={**token, **headers})
            assert 400 <= patched.status_code < 500
        # The same junk as form posts to the room page: friendly 4xx pages, nothing stored.
        browser = await join(server, room)
        for body, _ in bodies:
            page = await browser.post(f"{room_path(event, room)}/items", content=body, headers={
                "content-type": "application/x-www-form-urlencoded"})
            assert 400 <= page.status_code < 500 and "text/html" in page.headers["content-type"]
        many = await browser.post(f"{room_path(event, room)}/items", content=b"&".join(
            b"a%d=1" % n for n in range(8000)), headers={
            "content-type": "application/x-www-form-urlencoded"})
        assert 400 <= many.status_code < 500
        await browser.aclose()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert (await client.get("/healthz")).status_code == 200
    assert await snapshot(client, event) == before

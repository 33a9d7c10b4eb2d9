"""The limit baseline: a bare relay on the `websockets` library.

No store, no auth, no framework. Screens connect to the websocket port; writers POST to a
hand-rolled HTTP/1.1 listener on the HTTP port (the `websockets` server cannot read a
request body, and the generator must send the same POSTs to every target). Each submit
renders its frame once and hands it to `websockets.broadcast()`, which writes it to every
socket of the room and every plenary socket without awaiting any of them.

    python -m benchmarks.baselines.limit --port 8101 --ws-port 8102
"""

from __future__ import annotations

import argparse
import asyncio
import html
from urllib.parse import urlsplit

import orjson
from websockets.asyncio.server import ServerConnection, broadcast, serve

from benchmarks.baselines.common import ADMIN_TOKEN, Book, after_of, bearer, room_items

book = Book()
# event id -> room id (None for plenary) -> open sockets
sockets: dict[str, dict[str | None, set[ServerConnection]]] = {}


async def stream(ws: ServerConnection) -> None:
    assert ws.request is not None
    scope = book.tokens.get(bearer(ws.request.headers.get("Authorization")) or "")
    if scope is None:
        await ws.close(1008, "unknown token")
        return
    group = sockets.setdefault(scope.event, {}).setdefault(scope.room, set())
    # What it missed, then live: written without an await in between (broadcast()
    # does not await), so no frame can fall between the replay and the group.
    for _, frame in book.missed(scope, after_of(urlsplit(ws.request.path).query)):
        broadcast([ws], frame, text=True)
    group.add(ws)
    try:
        await ws.wait_closed()
    finally:
        group.discard(ws)


def answer(status: int, body: bytes, kind: str = "application/json") -> bytes:
    reason = {200: "OK", 201: "Created", 401: "Unauthorized", 404: "Not Found"}.get(status, "X")
    head = (f"HTTP/1.1 {status} {reason}\r\ncontent-type: {kind}\r\n"
            f"content-length: {len(body)}\r\n\r\n")
    return head.encode() + body


def room_page(event: str, room: str) -> bytes:
    """The room page (scenario h): the least a server can do, escaped string joins."""
    esc = html.escape
    rows = "".join(
        f'<li id="item-{esc(i["id"])}"><p>{esc(i["text"])}</p><p>{esc(i["owner"])} '
        f'{esc(i["due"] or "")} {esc(i["status"])}</p></li>' for i in room_items(book, event, room))
    page = (f"<!doctype html><html lang=en><title>{esc(room)}</title><main><h1>Room</h1>"
            f"<ul>{rows}</ul></main></html>")
    return answer(200, page.encode(), "text/html; charset=utf-8")


def route(method: str, path: str, token: str | None, body: bytes) -> bytes:
    parts = urlsplit(path).path.strip("/").split("/")
    if method == "GET" and len(parts) == 4 and parts[0] == "e" and parts[2] == "r":
        return room_page(parts[1], parts[3])
    if method == "GET" and parts == ["healthz"]:
        return answer(200, b'{"status":"ok","store":"none","broker":"websockets.broadcast"}')
    if method == "POST" and parts == ["api", "events"]:
        if token != ADMIN_TOKEN:
            return answer(401, b'{"error":{"code":"unauthorized","message":"admin token"}}')
        return answer(201, orjson.dumps(book.create_event(orjson.loads(body))))
    if method == "POST" and len(parts) == 6 and parts[0] == "api" and parts[5] == "items":
        event, room = parts[2], parts[4]
        scope = book.tokens.get(token or "")
        if scope is None or scope.event != event:
            return answer(401, b'{"error":{"code":"unauthorized","message":"token"}}')
        reply, frame = book.item_frame(event, room, orjson.loads(body))
        groups = sockets.get(event, {})
        targets = groups.get(room, set()) | groups.get(None, set())
        broadcast(targets, frame, text=True)
        return answer(201, reply)
    return answer(404, b'{"error":{"code":"not_found","message":"no such path"}}')


async def http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    k, _, v = line.partition(":")
                    headers[k.strip().lower()] = v.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            writer.write(route(method, path, bearer(headers.get("authorization")), body))
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(host: str, port: int, ws_port: int) -> None:
    async with serve(stream, host, ws_port, compression=None, backlog=4096):
        server = await asyncio.start_server(http, host, port, backlog=4096)
        async with server:
            await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8101)
    parser.add_argument("--ws-port", type=int, default=8102)
    args = parser.parse_args()
    import uvloop

    uvloop.run(main(args.host, args.port, args.ws_port))

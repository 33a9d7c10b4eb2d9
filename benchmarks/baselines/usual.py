"""The usual way: Starlette + uvicorn + encode/broadcaster (memory backend).

This is the pattern the broadcaster README teaches: each websocket subscribes to a
channel, which gives it its own asyncio.Queue, and a task per socket awaits that queue
and sends each message. A socket that reconnects with ``?after=<seq>`` first gets what
it missed from the in-memory list of frames (``Book.log``). A submit publishes the
pre-rendered frame twice: on the room's channel and on the event's plenary channel.
No store, no auth, like the limit baseline.

    python -m benchmarks.baselines.usual --port 8103
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import jinja2
import orjson
import uvicorn
from broadcaster import Broadcast
from broadcaster._base import Unsubscribed
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from benchmarks.baselines.common import ADMIN_TOKEN, Book, after_of, bearer, room_items

book = Book()
hub = Broadcast("memory://")


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok", "store": "none", "broker": "broadcaster-memory"})


async def create_event(request: Request) -> Response:
    if bearer(request.headers.get("authorization")) != ADMIN_TOKEN:
        return JSONResponse({"error": {"code": "unauthorized", "message": "admin"}}, 401)
    return JSONResponse(book.create_event(await request.json()), 201)


async def create_item(request: Request) -> Response:
    event, room = request.path_params["event"], request.path_params["room"]
    scope = book.tokens.get(bearer(request.headers.get("authorization")) or "")
    if scope is None or scope.event != event:
        return JSONResponse({"error": {"code": "unauthorized", "message": "token"}}, 401)
    reply, frame = book.item_frame(event, room, orjson.loads(await request.body()))
    text = frame.decode()
    await hub.publish(channel=f"{event}:{room}", message=text)
    await hub.publish(channel=f"{event}:*", message=text)
    return Response(reply, 201, media_type="application/json")


# The room page (scenario h), the usual way: a Jinja2 template, autoescaped, over the
# room's items in memory.
PAGE = jinja2.Environment(autoescape=True).from_string(
    "<!doctype html><html lang=en><title>{{ room }}</title><main><h1>Room</h1><ul>"
    "{% for item in items %}<li id=\"item-{{ item.id }}\"><p>{{ item.text }}</p>"
    "<p>{{ item.owner }} {{ item.due or '' }} {{ item.status }}</p></li>{% endfor %}"
    "</ul></main></html>")


async def room_page(request: Request) -> Response:
    event, room = request.path_params["event"], request.path_params["room"]
    return HTMLResponse(PAGE.render(room=room, items=room_items(book, event, room)))


async def stream(ws: WebSocket) -> None:
    scope = book.tokens.get(bearer(ws.headers.get("authorization")) or "")
    if scope is None:
        await ws.close(1008)
        return
    await ws.accept()
    channel = f"{scope.event}:{scope.room or '*'}"

    async def sender() -> None:
        async with hub.subscribe(channel=channel) as subscriber:
            try:
                # Subscribed first, then what it missed from the in-memory list; a frame
                # in both (published meanwhile) is skipped by its seq.
                last = after_of(ws.url.query)
                for seq, frame in book.missed(scope, last):
                    await ws.send_text(frame.decode())
                    last = seq
                while True:
                    event = await subscriber.get()
                    text = event.message
                    if int(text[7:text.index(",")]) <= last:  # '{"seq":N,...'
                        continue
                    await ws.send_text(text)
            except (Unsubscribed, WebSocketDisconnect, OSError):
                pass

    async def receiver() -> None:
        try:
            while True:
                await ws.receive_text()
        except WebSocketDisconnect:
            pass

    tasks = [asyncio.create_task(sender()), asyncio.create_task(receiver())]
    _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    await hub.connect()
    yield
    await hub.disconnect()


app = Starlette(
    routes=[
        Route("/healthz", healthz),
        Route("/api/events", create_event, methods=["POST"]),
        Route("/api/events/{event}/rooms/{room}/items", create_item, methods=["POST"]),
        WebSocketRoute("/api/events/{event}/stream", stream),
        Route("/e/{event}/r/{room}", room_page),
    ],
    lifespan=lifespan,
)

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8103)
    args = parser.parse_args()
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", backlog=4096,
                loop="uvloop", http="httptools")

"""The JSON API of ``shared/API.md``: events, rooms, items, role assignments, stream."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute

from facilitation.domain import ITEM, ROLE, make_command, public
from facilitation.pushes import JSON_VIEW
from facilitation.schemas import EventIn
from facilitation.web.bodies import parse
from facilitation.web.handling import (
    READ,
    WRITE,
    ORJSONResponse,
    authorise,
    create_command,
    serve_stream,
    services_of,
    update_command,
)
from facilitation.web.security import admin_ok

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.websockets import WebSocket


async def health(request: Request) -> Response:
    services = services_of(request)
    body = {"status": "ok", "store": services.store.name, "broker": services.broker.name}
    try:
        await services.store.ping()
    except Exception:  # noqa: BLE001
        body["status"] = "unavailable"
        return ORJSONResponse(body, status_code=503)
    return ORJSONResponse(body)


async def create_event(request: Request) -> Response:
    services = services_of(request)
    admin_ok(request, services.settings)
    body = parse(EventIn, await request.body())
    event_id, secrets = await services.create_event(body)
    board = await services.board(event_id)
    return ORJSONResponse(services.event_json(board, secrets, None), status_code=201)


async def get_event(request: Request) -> Response:
    ctx = await authorise(request, READ)
    return ORJSONResponse(ctx.services.event_json(ctx.board, ctx.secrets, ctx.access))


async def get_room(request: Request) -> Response:
    room_id = request.path_params["room"]
    ctx = await authorise(request, READ, room_id)
    board = ctx.board
    return ORJSONResponse({
        "room": ctx.room,
        "items": [public(i) for i in board.live(ITEM, room_id)],
        "roles": [public(r) for r in board.live(ROLE, room_id)],
        "seq": board.seq,
        "epoch": board.event.get("epoch", ""),
    })


def _create(kind: str) -> Any:
    async def handler(request: Request) -> Response:
        room_id = request.path_params["room"]
        ctx = await authorise(request, WRITE, room_id)
        command = create_command(kind, await request.body(), room_id, ctx.board.event)
        appended = await ctx.services.submit(ctx.event_id, command)
        return ORJSONResponse(public(appended.change.data), status_code=200 if appended.replayed else 201)

    return handler


def _update(kind: str) -> Any:
    async def handler(request: Request) -> Response:
        room_id = request.path_params["room"]
        ctx = await authorise(request, WRITE, room_id)
        command = update_command(
            kind, await request.body(), request.path_params["id"], room_id, ctx.board.event)
        appended = await ctx.services.submit(ctx.event_id, command)
        return ORJSONResponse(public(appended.change.data))

    return handler


def _delete(kind: str) -> Any:
    async def handler(request: Request) -> Response:
        room_id = request.path_params["room"]
        ctx = await authorise(request, WRITE, room_id)
        command = make_command(kind, "delete", request.path_params["id"], room_id)
        await ctx.services.submit(ctx.event_id, command)
        return Response(status_code=204)

    return handler


async def stream(websocket: WebSocket) -> None:
    """``WS /api/events/{event}/stream?after=n``: the event's changes as JSON frames."""
    ctx = await authorise(websocket, READ)  # 404 for an unknown event before accepting
    await serve_stream(websocket, ctx, JSON_VIEW, ctx.access.room)


def routes() -> list[Route | WebSocketRoute]:
    base = "/api/events/{event}/rooms/{room}"
    return [
        Route("/healthz", health),
        Route("/api/events", create_event, methods=["POST"]),
        Route("/api/events/{event}", get_event),
        Route(base, get_room),
        Route(f"{base}/items", _create(ITEM), methods=["POST"]),
        Route(f"{base}/items/{{id}}", _update(ITEM), methods=["PATCH"]),
        Route(f"{base}/items/{{id}}", _delete(ITEM), methods=["DELETE"]),
        Route(f"{base}/roles", _create(ROLE), methods=["POST"]),
        Route(f"{base}/roles/{{id}}", _update(ROLE), methods=["PATCH"]),
        Route(f"{base}/roles/{{id}}", _delete(ROLE), methods=["DELETE"]),
        WebSocketRoute("/api/events/{event}/stream", stream),
    ]

"""The JSON API of ``shared/API.md``: events, rooms, items, role assignments, stream."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from facilitation import errors, live
from facilitation.domain import ITEM, ROLE, make_command, public
from facilitation.render import JSON
from facilitation.schemas import (
    EventIn,
    ItemIn,
    ItemPatch,
    RoleIn,
    RolePatch,
    changed_fields,
    parse,
)
from facilitation.security import admin_ok, check_socket_origin, resolve

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.websockets import WebSocket

    from facilitation.security import Access
    from facilitation.services import Services


class ORJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        import orjson

        return orjson.dumps(content)


def services_of(request: Request | WebSocket) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


async def _access(request: Request, event_id: str) -> tuple[Services, Access]:
    services = services_of(request)
    secrets = await services.secrets(event_id)
    return services, resolve(request, event_id, secrets)


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
    event_id = request.path_params["event"]
    services, access = await _access(request, event_id)
    board = await services.board(event_id)
    return ORJSONResponse(services.event_json(board, await services.secrets(event_id), access))


async def get_room(request: Request) -> Response:
    event_id, room_id = request.path_params["event"], request.path_params["room"]
    services, access = await _access(request, event_id)
    board = await services.board(event_id)
    room = services.room_of(board, room_id)
    access.require_read(room_id)
    return ORJSONResponse({
        "room": room,
        "items": [public(i) for i in board.live(ITEM, room_id)],
        "roles": [public(r) for r in board.live(ROLE, room_id)],
        "seq": board.seq,
        "epoch": board.event.get("epoch", ""),
    })


MODELS: dict[str, tuple[type[Any], type[Any]]] = {
    ITEM: (ItemIn, ItemPatch), ROLE: (RoleIn, RolePatch)}


async def _writable_room(request: Request) -> tuple[Services, str, str, dict[str, Any]]:
    event_id, room_id = request.path_params["event"], request.path_params["room"]
    services, access = await _access(request, event_id)
    board = await services.board(event_id)
    services.room_of(board, room_id)
    access.require_write(room_id)
    return services, event_id, room_id, board.event


def check_goals(goals: list[str], event: dict[str, Any]) -> None:
    known = {g["id"] for g in event.get("goals", [])}
    unknown = [g for g in goals if g not in known]
    if unknown:
        raise errors.Unprocessable(f"goals: unknown goal id {unknown[0]!r}")


def _create(kind: str) -> Any:
    async def handler(request: Request) -> Response:
        services, event_id, room_id, event = await _writable_room(request)
        body: Any = parse(MODELS[kind][0], await request.body())
        fields = body.model_dump(mode="json", exclude={"id"})
        if kind == ITEM:
            check_goals(fields["goals"], event)
        command = make_command(kind, "create", str(body.id), room_id, fields)
        appended = await services.submit(event_id, command)
        return ORJSONResponse(public(appended.change.data), status_code=200 if appended.replayed else 201)

    return handler


def _update(kind: str) -> Any:
    async def handler(request: Request) -> Response:
        services, event_id, room_id, event = await _writable_room(request)
        body: Any = parse(MODELS[kind][1], await request.body())
        fields = changed_fields(body)
        if kind == ITEM and "goals" in fields:
            check_goals(fields["goals"], event)
        command = make_command(
            kind, "update", request.path_params["id"], room_id, fields, version=body.version
        )
        appended = await services.submit(event_id, command)
        return ORJSONResponse(public(appended.change.data))

    return handler


def _delete(kind: str) -> Any:
    async def handler(request: Request) -> Response:
        services, event_id, room_id, _ = await _writable_room(request)
        command = make_command(kind, "delete", request.path_params["id"], room_id)
        await services.submit(event_id, command)
        return Response(status_code=204)

    return handler


async def stream(websocket: WebSocket) -> None:
    """``WS /api/events/{event}/stream?after=n``: the event's changes as JSON frames."""
    services = services_of(websocket)
    event_id = websocket.path_params["event"]
    check_socket_origin(websocket, services.settings)
    access = resolve(websocket, event_id, await services.secrets(event_id))
    after = parse_after(websocket.query_params.get("after"))
    epoch = parse_epoch(websocket.query_params.get("epoch"))
    await services.board(event_id)  # 404 for an unknown event before accepting
    await websocket.accept()
    await live.stream(websocket, services, event_id, JSON, access.room, after, epoch,
                      access=access)


def parse_epoch(raw: str | None) -> str | None:
    """``epoch=``: the event's epoch as the client knew it (from the event or room answer)."""
    if not raw:
        return None
    if len(raw) > 64 or not raw.isalnum():
        raise errors.BadRequest("epoch: must be the epoch the server gave.")
    return raw


def parse_after(raw: str | None) -> int:
    if raw is None or raw == "":
        return 0
    # ASCII only: "²" passes isdigit() and fails int().
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise errors.BadRequest("after: must be a whole number (a sequence number).")
    return int(raw)


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

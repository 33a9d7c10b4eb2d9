"""The JSON API of Part 3: locks, event edits, merges, plenary state, timer, message, votes.

Everything here but votes, presence and the plenary read needs the organiser token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.responses import Response
from starlette.routing import Route

from facilitation import follow, moderation
from facilitation.domain import MESSAGE, PLENARY, TIMER, public
from facilitation.plenary import actions, room_counts, suggestions
from facilitation.schemas import (
    EventPatch,
    MergeIn,
    MergePatch,
    MessageIn,
    ModeratedItemPatch,
    PlenaryPatch,
    TimerIn,
    VoteIn,
)
from facilitation.web import errors
from facilitation.web.bodies import changed_fields, parse
from facilitation.web.handling import (
    EVERY_ROOM,
    MODERATE,
    PLENARY_STATE,
    PROXY_VOTE,
    READ,
    ORJSONResponse,
    authorise,
)

if TYPE_CHECKING:
    from starlette.requests import Request

    from facilitation.domain import Board


async def lock_room(request: Request) -> Response:
    ctx = await authorise(request, MODERATE)
    services, event_id = ctx.services, ctx.event_id
    locked = request.method == "POST"
    room = await moderation.set_lock(services, event_id, request.path_params["room"], locked)
    return ORJSONResponse(room)


async def lock_all(request: Request) -> Response:
    ctx = await authorise(request, MODERATE)
    services, event_id = ctx.services, ctx.event_id
    rooms = await moderation.set_lock_all(services, event_id, request.method == "POST")
    return ORJSONResponse({"rooms": rooms})


async def edit_event(request: Request) -> Response:
    ctx = await authorise(request, MODERATE)
    services, event_id = ctx.services, ctx.event_id
    patch = parse(EventPatch, await request.body())
    board = await moderation.edit_event(services, event_id, patch)
    return ORJSONResponse(services.event_json(board, await services.secrets(event_id), None))


def merge_json(board: Board, merge: dict[str, Any]) -> dict[str, Any]:
    votes = next((a.votes for a in actions(board) if a.id == merge["id"]), 0)
    return {**public(merge), "votes": votes}


async def create_merge(request: Request) -> Response:
    ctx = await authorise(request, MODERATE)
    services, event_id = ctx.services, ctx.event_id
    body = parse(MergeIn, await request.body())
    appended = await moderation.create_merge(services, event_id, body)
    board = await services.board(event_id)
    return ORJSONResponse(merge_json(board, appended.change.data),
                          status_code=200 if appended.replayed else 201)


async def list_merges(request: Request) -> Response:
    # Joint actions are event-wide, like the plenary they belong to: every link of the
    # event reads them, a join link too (its stream carries them, its page votes on them).
    board = (await authorise(request, READ)).board
    return ORJSONResponse([merge_json(board, a.entity) for a in actions(board)
                           if a.kind == "merge"])


async def update_merge(request: Request) -> Response:
    ctx = await authorise(request, MODERATE)
    services, event_id = ctx.services, ctx.event_id
    patch = parse(MergePatch, await request.body())
    fields = changed_fields(patch)
    appended = await moderation.update_merge(
        services, event_id, request.path_params["id"], fields, patch.version)
    return ORJSONResponse(merge_json(await services.board(event_id), appended.change.data))


async def delete_merge(request: Request) -> Response:
    ctx = await authorise(request, MODERATE)
    services, event_id = ctx.services, ctx.event_id
    await moderation.delete_merge(services, event_id, request.path_params["id"])
    return Response(status_code=204)


async def merge_suggestions(request: Request) -> Response:
    ctx = await authorise(request, MODERATE)
    services, event_id = ctx.services, ctx.event_id
    board = await services.board(event_id)
    # An API client waits for the comparisons to be complete (the server answers
    # others meanwhile, see follow.py), up to 10 s of a flood of new items.
    await follow.settle(board, wait=10.0)
    return ORJSONResponse([
        {"items": [p["items"][0]["id"], p["items"][1]["id"]],
         "texts": [p["items"][0]["text"], p["items"][1]["text"]],
         "rooms": [p["items"][0]["room"], p["items"][1]["room"]], "score": p["score"]}
        for p in suggestions(board, partial=True)
    ])


async def moderate_item(request: Request) -> Response:
    ctx = await authorise(request, MODERATE)
    services, event_id = ctx.services, ctx.event_id
    patch = parse(ModeratedItemPatch, await request.body())
    appended = await moderation.moderate_item(services, event_id, request.path_params["id"], patch)
    return ORJSONResponse(public(appended.change.data))


async def plenary_state(request: Request) -> Response:
    """``GET``: the plenary's state, joint actions, votes per action and counts per room."""
    ctx = await authorise(request, PLENARY_STATE)
    board = ctx.board
    presence = await ctx.services.presence.counts(ctx.event_id)
    return ORJSONResponse({
        "plenary": public(board.singleton(PLENARY)),
        "timer": public(board.singleton(TIMER)),
        "message": public(board.singleton(MESSAGE)),
        "actions": [{"kind": a.kind, "id": a.id, "text": a.text, "rooms": a.rooms,
                     "goals": a.goals, "votes": a.votes,
                     "items": [s["id"] for s in a.sources] or [a.id]}
                    for a in actions(board, "votes")],
        "rooms": room_counts(board, presence),
        "seq": board.seq,
    })


async def patch_plenary(request: Request) -> Response:
    ctx = await authorise(request, MODERATE)
    services, event_id = ctx.services, ctx.event_id
    patch = parse(PlenaryPatch, await request.body())
    return ORJSONResponse(public(await moderation.set_plenary(services, event_id, patch)))


async def timer(request: Request) -> Response:
    ctx = await authorise(request, MODERATE)
    services, event_id = ctx.services, ctx.event_id
    if request.method == "DELETE":
        return ORJSONResponse(public(await moderation.stop_timer(services, event_id)))
    body = parse(TimerIn, await request.body())
    return ORJSONResponse(public(await moderation.start_timer(services, event_id, body)))


async def message(request: Request) -> Response:
    ctx = await authorise(request, MODERATE)
    services, event_id = ctx.services, ctx.event_id
    text = "" if request.method == "DELETE" else parse(MessageIn, await request.body()).text
    return ORJSONResponse(public(await moderation.set_message(services, event_id, text)))


async def presence(request: Request) -> Response:
    ctx = await authorise(request, EVERY_ROOM)
    return ORJSONResponse({"rooms": await ctx.services.presence.counts(ctx.event_id)})


async def votes(request: Request) -> Response:
    """``POST`` gives, ``DELETE .../votes/{item}?voter=`` withdraws one person's vote.

    A vote belongs to a person. In the browser that is the session's person (the
    room page); over the API only the organiser records votes, each a named proxy
    vote (paper ballots, a show of hands). A join token names nobody: were it let
    name its voter, one link could vote again and again under new names."""
    ctx = await authorise(request, PROXY_VOTE)
    services, event_id, access = ctx.services, ctx.event_id, ctx.access
    if request.method == "POST":
        body = parse(VoteIn, await request.body())
        target, person = body.item, body.voter
    else:
        target, person = request.path_params["item"], request.query_params.get("voter", "")
    if not person:
        raise errors.Unprocessable("voter: name the person who votes (any stable id)")
    voter = moderation.voter_id(event_id, f"api:{access.role}:{access.room}:{person}")
    appended = await moderation.vote(services, event_id, voter, target, request.method == "POST")
    if request.method == "DELETE":
        return Response(status_code=204)
    assert appended is not None
    return ORJSONResponse(public(appended.change.data), status_code=200 if appended.replayed else 201)


def routes() -> list[Route]:
    base = "/api/events/{event}"
    return [
        Route(base, edit_event, methods=["PATCH"]),
        Route(f"{base}/rooms/{{room}}/lock", lock_room, methods=["POST", "DELETE"]),
        Route(f"{base}/lock", lock_all, methods=["POST", "DELETE"]),
        Route(f"{base}/merges", create_merge, methods=["POST"]),
        Route(f"{base}/merges", list_merges, methods=["GET"]),
        Route(f"{base}/merges/suggestions", merge_suggestions, methods=["GET"]),
        Route(f"{base}/merges/{{id}}", update_merge, methods=["PATCH"]),
        Route(f"{base}/merges/{{id}}", delete_merge, methods=["DELETE"]),
        Route(f"{base}/items/{{id}}", moderate_item, methods=["PATCH"]),
        Route(f"{base}/plenary", plenary_state, methods=["GET"]),
        Route(f"{base}/plenary", patch_plenary, methods=["PATCH"]),
        Route(f"{base}/timer", timer, methods=["PUT", "DELETE"]),
        Route(f"{base}/message", message, methods=["PUT", "DELETE"]),
        Route(f"{base}/presence", presence, methods=["GET"]),
        Route(f"{base}/votes", votes, methods=["POST"]),
        Route(f"{base}/votes/{{item}}", votes, methods=["DELETE"]),
    ]

"""``GET /api/openapi.json``: the OpenAPI 3.1 document of every API row.

Hand-written operations (one line each in ``OPERATIONS``) over the request
models of ``schemas.py`` (the very models that validate the bodies, so the
document cannot drift from what is accepted) and response schemas written here.
``tests/test_openapi.py`` fails when an ``/api/`` route is missing from the
document, and fuzzes the running API from it. A new API row = a line here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from facilitation import schemas
from facilitation.schemas import NAME_MAX, TEXT_MAX

REF = "#/components/schemas/{model}"
JSON = "application/json"

# -- response schemas ------------------------------------------------------------------


def ref(name: str) -> dict[str, Any]:
    return {"$ref": REF.format(model=name)}


def obj(required: list[str], **props: Any) -> dict[str, Any]:
    """An object with these properties; others may be added (the contract only adds)."""
    return {"type": "object", "required": required, "properties": props}


STR = {"type": "string"}
INT = {"type": "integer"}
STRS = {"type": "array", "items": STR}
NULLABLE_STR = {"type": ["string", "null"]}
STATUS = {"type": "string", "enum": ["proposed", "agreed", "done"]}

RESPONSES: dict[str, dict[str, Any]] = {
    "Error": obj(["error"], error=obj(["code", "message"], code=STR, message=STR)),
    "Health": obj(["status", "store", "broker"], status={"enum": ["ok", "unavailable"]},
                  store={"enum": ["sqlite", "redis"]}, broker={"enum": ["memory", "redis"]}),
    "Goal": obj(["id", "text"], id=STR, text=STR),
    "Room": obj(["id", "name", "prompt"], id=STR, name=STR, prompt=STR, locked={"type": "boolean"},
                join_url=STR, join_token=STR),
    "Event": obj(["id", "title", "goals", "rooms", "plenary_url"], id=STR, title=STR,
                 goals={"type": "array", "items": ref("Goal")},
                 rooms={"type": "array", "items": ref("Room")},
                 plenary_url=STR, moderator_url=STR, organiser_token=STR, plenary_token=STR,
                 seq=INT, language=STR),
    "Item": obj(["id", "room", "text", "owner", "due", "goals", "status", "version",
                 "created_at", "updated_at"], id=STR, room=STR, text=STR, owner=STR,
                due=NULLABLE_STR, goals=STRS, status=STATUS, version=INT, created_at=STR,
                updated_at=STR, author=STR),
    "Role": obj(["id", "room", "actor", "role", "responsibility", "version", "created_at",
                 "updated_at"], id=STR, room=STR, actor=STR, role=STR, responsibility=STR,
                version=INT, created_at=STR, updated_at=STR, author=STR),
    "RoomBoard": obj(["room", "items", "roles", "seq"], room=ref("Room"),
                     items={"type": "array", "items": ref("Item")},
                     roles={"type": "array", "items": ref("Role")}, seq=INT),
    "Rooms": obj(["rooms"], rooms={"type": "array", "items": ref("Room")}),
    "Merge": obj(["id", "text", "items", "rooms"], id=STR, text=STR, items=STRS, rooms=STRS,
                 goals=STRS, status=STATUS, version=INT, votes=INT),
    "Suggestion": obj(["items", "texts", "rooms", "score"], items=STRS, texts=STRS, rooms=STRS,
                      score={"type": "number"}),
    "Plenary": obj(["plenary", "timer", "message", "actions", "rooms", "seq"],
                   plenary={"type": "object"}, timer={"type": "object"},
                   message={"type": "object"}, actions={"type": "array"},
                   rooms={"type": "object"}, seq=INT),
    "Entity": obj(["id"], id=STR, version=INT),
    "Presence": obj(["rooms"], rooms={"type": "object", "additionalProperties": INT}),
    "Vote": obj(["id", "item"], id=STR, item=STR),
    # Follow-up after the event
    "OwnerLinks": obj(["owners"], owners={"type": "array", "items": obj(
        ["id", "name", "actions", "url", "token"], id=STR, name=STR, actions=INT, url=STR,
        token=STR, keys=STRS, withdrawn={"type": "boolean"})}),
    "FollowUp": obj(["owners", "goals", "actions"], owners={"type": "array", "items": obj(
        ["id", "name", "actions", "done", "overdue", "updated_at"], id=STR, name=STR,
        actions=INT, done=INT, overdue=INT, updated_at=NULLABLE_STR)},
        goals={"type": "array", "items": obj(["id", "text", "actions", "done", "progress"],
                                             id=STR, text=STR, actions=INT, done=INT,
                                             progress=INT)},
        actions={"type": "array", "items": ref("Progress")}),
    "Progress": obj(["id", "ref", "text", "goals", "due", "status", "progress", "note",
                     "version", "updated_at"], id=STR, ref=STR, text=STR, room=STR, goals=STRS,
                    due=NULLABLE_STR, status={"type": "string", "enum": [
                        "not_started", "in_progress", "done", "dropped"]},
                    progress=INT, note=STR, version=INT, updated_at=NULLABLE_STR),
    "OwnerActions": obj(["owner", "actions"], owner=obj(["id", "name"], id=STR, name=STR),
                        actions={"type": "array", "items": ref("Progress")}),
    "OwnerLink": obj(["url", "token"], url=STR, token=STR),
}

BODIES: tuple[type[BaseModel], ...] = (
    schemas.EventIn, schemas.ItemIn, schemas.ItemPatch, schemas.RoleIn, schemas.RolePatch,
    schemas.EventPatch, schemas.MergeIn, schemas.MergePatch, schemas.ModeratedItemPatch,
    schemas.PlenaryPatch, schemas.TimerIn, schemas.MessageIn, schemas.VoteIn,
    schemas.FollowUpIn, schemas.ProgressPatch,
)

# What each token may do, as the contract words it (for the descriptions).
ANY = "any token of the event"
ORG = "organiser"
WRITERS = "join (that room), organiser"
READERS = "join (that room), plenary, organiser"
ADMIN = "admin"

# Every error an API row can answer; each is the JSON error body.
ERRORS = {
    400: "The body is not JSON, or a parameter is malformed.",
    401: "No token, or not a token of this event.",
    403: "A token of this event that does not cover this.",
    404: "No such event, room or entry (a room of another event included).",
    405: "This method is not allowed on this path.",
    409: "Conflicts with what is stored (a reused id, a stale version).",
    413: "The body is larger than 64 KiB.",
    422: "A field is missing, unknown, of the wrong type or too long.",
    423: "The room is locked: nothing was changed.",
    429: "Too many requests from this client; see Retry-After.",
    503: "The store cannot be reached; nothing was changed.",
}


@dataclass(frozen=True)
class Op:
    method: str
    path: str
    summary: str
    token: str | None
    body: type[BaseModel] | None = None
    ok: dict[int, str | None] = field(default_factory=lambda: {200: None})
    # Media types of a 200 that is not JSON (the outcomes downloads).
    media: tuple[str, ...] = ()
    query: tuple[tuple[str, dict[str, Any], str], ...] = ()


E = "/api/events/{event}"
R = E + "/rooms/{room}"
OPERATIONS: tuple[Op, ...] = (
    Op("get", "/healthz", "Liveness and the store in use", None, ok={200: "Health", 503: "Health"}),
    Op("get", "/api/openapi.json", "This document", None, ok={200: None}),
    Op("post", "/api/events", "Create an event with its rooms and goals", ADMIN, schemas.EventIn,
       ok={201: "Event"}),
    Op("get", E, "The event (tokens only those the caller holds)", ANY, ok={200: "Event"}),
    Op("patch", E, "Edit the title, rooms and plan goals", ORG, schemas.EventPatch,
       ok={200: "Event"}),
    Op("get", R, "A room's board", READERS, ok={200: "RoomBoard"}),
    Op("post", R + "/items", "Add an action item (idempotent by id)", WRITERS, schemas.ItemIn,
       ok={200: "Item", 201: "Item"}),
    Op("patch", R + "/items/{id}", "Change an action item", WRITERS, schemas.ItemPatch,
       ok={200: "Item"}),
    Op("delete", R + "/items/{id}", "Delete an action item", WRITERS, ok={204: None}),
    Op("post", R + "/roles", "Add a role assignment (idempotent by id)", WRITERS, schemas.RoleIn,
       ok={200: "Role", 201: "Role"}),
    Op("patch", R + "/roles/{id}", "Change a role assignment", WRITERS, schemas.RolePatch,
       ok={200: "Role"}),
    Op("delete", R + "/roles/{id}", "Delete a role assignment", WRITERS, ok={204: None}),
    Op("post", R + "/lock", "Lock a room: its writes answer 423", ORG, ok={200: "Room"}),
    Op("delete", R + "/lock", "Unlock a room", ORG, ok={200: "Room"}),
    Op("post", E + "/lock", "Lock every room", ORG, ok={200: "Rooms"}),
    Op("delete", E + "/lock", "Unlock every room", ORG, ok={200: "Rooms"}),
    Op("post", R + "/token", "Replace the room's join token; the old one ends at once", ORG,
       ok={200: "Event"}),
    Op("post", E + "/plenary/token", "Replace the plenary token; the old one ends at once", ORG,
       ok={200: "Event"}),
    Op("post", E + "/merges", "Merge duplicate items across rooms", ORG, schemas.MergeIn,
       ok={200: "Merge", 201: "Merge"}),
    Op("get", E + "/merges", "The merged actions", "plenary, organiser",
       ok={200: "Merges"}),
    Op("get", E + "/merges/suggestions", "Likely duplicates across rooms", ORG,
       ok={200: "Suggestions"}),
    Op("patch", E + "/merges/{id}", "Change a merged action", ORG, schemas.MergePatch,
       ok={200: "Merge"}),
    Op("delete", E + "/merges/{id}", "Undo a merge", ORG, ok={204: None}),
    Op("patch", E + "/items/{id}", "Set an item's goals or status in plenary", ORG,
       schemas.ModeratedItemPatch, ok={200: "Item"}),
    Op("get", E + "/plenary", "The plenary's state, actions and votes", "plenary, organiser",
       ok={200: "Plenary"}),
    Op("patch", E + "/plenary", "Drive the plenary board", ORG, schemas.PlenaryPatch,
       ok={200: "Entity"}),
    Op("put", E + "/timer", "Start the countdown", ORG, schemas.TimerIn, ok={200: "Entity"}),
    Op("delete", E + "/timer", "Stop the countdown", ORG, ok={200: "Entity"}),
    Op("put", E + "/message", "Show a message in every room and the plenary", ORG,
       schemas.MessageIn, ok={200: "Entity"}),
    Op("delete", E + "/message", "Clear the message", ORG, ok={200: "Entity"}),
    Op("get", E + "/presence", "People present per room", "plenary, organiser",
       ok={200: "Presence"}),
    Op("post", E + "/votes", "Record a named person's vote (a proxy vote: paper ballots)",
       "organiser", schemas.VoteIn, ok={200: "Vote", 201: "Vote"}),
    Op("delete", E + "/votes/{item}", "Withdraw a named person's proxy vote", "organiser",
       ok={204: None}, query=(("voter", STR, "the person the vote was recorded for"),)),
    Op("get", E + "/outcomes.{fmt}", "The consolidated outcomes as a download", ORG,
       media=(JSON, "text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
              "text/markdown", "text/html", "text/calendar"),
       query=(("owner", STR, "outcomes.csv only: that owner's actions (no case, no extra spaces)"),
              ("sep", STR, 'the CSVs only: "," or ";" (default: ";" for nb and fr events)'))),
    Op("post", E + "/follow-up", "Open follow-up: one link per owner of a live action", ORG,
       schemas.FollowUpIn, ok={200: "OwnerLinks"}),
    Op("get", E + "/follow-up", "Progress per owner and per plan goal, and every action", ORG,
       ok={200: "FollowUp"}),
    Op("get", E + "/owners/{owner}", "An owner's actions with their progress",
       "that owner's, organiser", ok={200: "OwnerActions"}),
    Op("post", E + "/owners/{owner}/token", "Replace an owner's link; the old one ends at once",
       ORG, ok={200: "OwnerLink"}),
    Op("delete", E + "/owners/{owner}/token",
       "Withdraw an owner's link without a new one; it ends at once", ORG, ok={204: None}),
    Op("get", E + "/owners/{owner}/calendar.ics", "An owner's due dates as a calendar file",
       "that owner's, organiser", media=("text/calendar",)),
    Op("patch", E + "/progress/{id}", "Report progress on an action (item or joint action)",
       "that owner's (its own actions only), organiser", schemas.ProgressPatch,
       ok={200: "Progress"}),
)

WEBSOCKETS = {
    E + "/stream": {
        "summary": "The event's changes as JSON text frames, after ?after=seq, then live",
        "token": "plenary, organiser, or join (then only its room)",
        "frame": obj(["seq", "room", "type", "data"], seq=INT, room=NULLABLE_STR, type=STR,
                     data={"type": "object"}),
        "close_codes": {
            "1008": "policy: too many messages from the client, or reload (the store was reset)",
            "1009": "a message over 64 KiB",
            "1012": "the server is restarting: reconnect with ?after=",
            "1013": "try again later: too many sockets, the store unreachable, or too far behind",
            "4401": "the token behind this socket was replaced: it is not valid any more",
        },
    },
}


def _parameters(op: Op) -> list[dict[str, Any]]:
    names = [part[1:-1] for part in op.path.replace(".", "/").split("/")
             if part.startswith("{") and part.endswith("}")]
    out: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True,
         "schema": {"type": "string", "minLength": 1, "maxLength": 64}} for name in names]
    for name, schema, text in op.query:
        out.append({"name": name, "in": "query", "required": False, "schema": schema,
                    "description": text})
    return out


def _operation(op: Op) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, schema in op.ok.items():
        if status == 204:
            responses[str(status)] = {"description": "Done."}
        elif op.media:
            responses[str(status)] = {"description": "The file.",
                                      "content": {m: {} for m in op.media}}
        else:
            body = ref(schema) if schema else {"type": "object"}
            responses[str(status)] = {"description": "OK.", "content": {JSON: {"schema": body}}}
    for status, text in ERRORS.items():
        responses.setdefault(str(status), {
            "description": text, "content": {JSON: {"schema": ref("Error")}}})
    responses["429"]["headers"] = {"Retry-After": {"schema": INT,
                                                   "description": "Seconds to wait."}}
    out: dict[str, Any] = {
        "summary": op.summary,
        "operationId": f"{op.method}_{op.path}".replace("/", "_").replace("{", "").replace(
            "}", "").replace(".", "_").strip("_"),
        "parameters": _parameters(op),
        "responses": responses,
    }
    if op.token:
        out["description"] = f"Token: {op.token}."
        out["security"] = [{"bearer": []}]
    else:
        out["security"] = []
    if op.body is not None:
        out["requestBody"] = {"required": True, "content": {
            JSON: {"schema": ref(op.body.__name__)}}}
    return out


@cache
def document() -> dict[str, Any]:
    _, defs = models_json_schema([(m, "validation") for m in BODIES], ref_template=REF)
    components = dict(defs.get("$defs", {}))
    components.update(RESPONSES)
    components["Merges"] = {"type": "array", "items": ref("Merge")}
    components["Suggestions"] = {"type": "array", "items": ref("Suggestion")}
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "facilitation",
            "version": "1",
            "description": (
                "Breakout rooms, a plenary board and consolidated outcomes. Every error is "
                '{"error": {"code", "message"}}. Limits: bodies up to 64 KiB (413), texts up '
                f"to {TEXT_MAX} and names up to {NAME_MAX} characters (422), writes per client "
                "rate-limited (429 with Retry-After)."),
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "An event's or the admin's token."}},
        },
        "x-websockets": WEBSOCKETS,
    }


async def openapi_json(request: Request) -> Response:
    return JSONResponse(document())


def routes() -> list[Route]:
    return [Route("/api/openapi.json", openapi_json, methods=["GET"])]

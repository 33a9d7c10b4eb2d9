"""Follow-up writes: opening it (owners and their links), reports, and replacing a link.

Each goes through the event's log like every other change: owners are ``owner``
entities, reports ``progress`` entities (streamed as ``progress.updated``, the first
too), and a replaced link an ``access`` change that closes the old link's
sockets on every worker. Tokens are never in the log.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import orjson

from facilitation import domain, followup
from facilitation.domain import OWNER, PROGRESS, Appended, make_command

if TYPE_CHECKING:
    from facilitation.access import Access
    from facilitation.domain import Board, Secrets
    from facilitation.schemas import ProgressPatch
    from facilitation.services import Services


async def open_followup(services: Services, event_id: str,
                        same: list[list[str]]) -> tuple[Board, Secrets]:
    """One owner (and one link) per owner of a live action; ``same`` joins spellings.

    Asking again changes nothing that is already so: the same owners keep their
    links, new owners get theirs, an owner joined into another loses its own.
    """
    board = await services.board(event_id)
    plan = followup.plan_owners(board, same)
    for oid, fields in plan.upsert.items():
        await services.upsert(event_id, OWNER, oid, None, fields)
    for oid in plan.absorbed:
        await services.upsert(event_id, OWNER, oid, None, None, delete=True)
    board = await services.board(event_id)
    live = [o["id"] for o in followup.owners(board) if not followup.withdrawn(board, o["id"])]
    secrets = await issue_tokens(services, event_id, live, drop=list(plan.absorbed))
    return await services.board(event_id), secrets


async def issue_tokens(services: Services, event_id: str, owners: list[str],
                       drop: list[str]) -> Secrets:
    """Give every owner in ``owners`` a token if it has none; take ``drop``'s away.

    The store keeps the first token given to an owner (``add_tokens``), so asking
    again, on any worker and at the same time, gives the same link. A token taken
    away goes with the ``access`` change that closes its sockets on every worker."""
    secrets = await services.secrets(event_id)
    missing = {domain.owner_field(o): domain.new_token()
               for o in owners if o not in secrets.owner_tokens}
    if missing:
        secrets = await services._guard(  # noqa: SLF001
            services.store.add_tokens(event_id, missing))
    gone = [o for o in drop if o in secrets.owner_tokens]
    for oid in gone:
        await services.rotate_token(event_id, domain.owner_field(oid), None, revoke=True)
    return await services.secrets(event_id) if gone else secrets


async def rotate_owner(services: Services, event_id: str, owner: str) -> Secrets:
    """A fresh link for one owner (also one whose link was withdrawn): the old one
    answers 401 and its sockets close."""
    secrets = await services.secrets(event_id)
    board = await services.board(event_id)
    if owner not in secrets.owner_tokens and not followup.withdrawn(board, owner):
        raise domain.NotFound("This owner has no follow-up link; open follow-up first.")
    await services.rotate_token(event_id, domain.owner_field(owner), None)
    return await services.secrets(event_id)


async def withdraw_owner(services: Services, event_id: str, owner: str) -> None:
    """Take one owner's link away without giving a new one: it answers 401 and its
    pages and sockets close on every worker, as a replaced link's do. Again: nothing
    more happens. A new link only when the organiser asks (``rotate_owner``)."""
    board = await services.board(event_id)
    if not any(o["id"] == owner for o in followup.owners(board)):
        raise domain.NotFound("There is no such owner in this event.")
    if followup.withdrawn(board, owner):
        return
    await services.rotate_token(event_id, domain.owner_field(owner), None, revoke=True,
                                withdrawn=True)


def owner_url(services: Services, event_id: str, owner: str, token: str | None) -> str:
    url = f"{services.settings.public_url}/e/{event_id}/o/{owner}"
    return f"{url}?t={token}" if token else url


def links(services: Services, board: Board, secrets: Secrets) -> list[dict[str, Any]]:
    """``POST …/follow-up``'s answer: every owner with its link."""
    mine = {f.id: f for f in followup.followed(board)}
    out = []
    for owner in followup.owners(board):
        token = secrets.owner_tokens.get(owner["id"], "")
        out.append({
            "id": owner["id"], "name": owner["name"], "keys": owner.get("keys", []),
            "withdrawn": followup.withdrawn(board, owner["id"]),
            "actions": sum(1 for f in mine.values() if owner["id"] in f.owners),
            "action_ids": [f.id for f in mine.values() if owner["id"] in f.owners],
            "url": owner_url(services, board.event_id, owner["id"], token), "token": token,
        })
    return out


def may_report(access: Access, f: followup.FollowedAction) -> None:
    """The organiser reports on anything; an owner's link on its own actions only."""
    if access.may_moderate:
        return
    if access.owner is None or access.owner not in f.owners:
        raise domain.Refused("Your link reports on your own actions only.")


async def report(services: Services, event_id: str, action_id: str, access: Access,
                 patch: ProgressPatch, fields: dict[str, Any]) -> tuple[Appended, Board]:
    """Store one report on one action: versioned like an item (0 = not reported yet)."""
    board = await services.board(event_id)
    found = followup.find(board, action_id)
    if found is None:
        raise domain.NotFound("There is no such action (it may have been deleted or merged).")
    may_report(access, found)
    room = found.action.rooms[0] if found.action.kind == "item" else None
    fields = {**fields, "by": "organiser" if access.may_moderate else (access.owner or "")}
    if patch.version == 0:
        # Keyed by its body: the same first report sent again is stored once; another
        # first report after it is stale (domain.decide), like any edit.
        command = make_command(PROGRESS, "create", action_id, room, fields,
                               key=f"{PROGRESS}:{action_id}:v0:" + _digest(fields))
    else:
        command = make_command(PROGRESS, "update", action_id, room, fields,
                               version=patch.version)
    try:
        appended = await services.submit(event_id, command)
    except domain.StaleVersion as error:
        # The action with its progress as it stands, not the bare progress entity.
        fresh = await services.board(event_id)
        now = followup.find(fresh, action_id)
        if now is not None:
            error.current = followup.action_json(fresh, now, followup.today())
        raise
    return appended, await services.board(event_id)


def _digest(fields: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]

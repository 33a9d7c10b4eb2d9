"""Follow-up writes: opening it (owners and their links), reports, and replacing a link.

Each goes through the event's log like every other change: owners are ``owner``
entities, reports ``progress`` entities (``progress.created``/``progress.updated``,
streamed), and a replaced link an ``access`` change that closes the old link's
sockets on every worker. Tokens are never in the log.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import orjson

from facilitation import domain, errors, followup
from facilitation.domain import ACCESS, OWNER, PROGRESS, Appended, make_command

if TYPE_CHECKING:
    from facilitation.domain import Board, Secrets
    from facilitation.schemas import ProgressPatch
    from facilitation.security import Access
    from facilitation.services import Services


def today() -> date:
    return datetime.now(UTC).date()


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
    live = [o["id"] for o in followup.owners(board)]
    secrets = await issue_tokens(services, event_id, live, drop=list(plan.absorbed))
    if plan.absorbed:
        await announce(services, event_id, list(plan.absorbed))
    return await services.board(event_id), secrets


async def issue_tokens(services: Services, event_id: str, owners: list[str],
                       drop: list[str]) -> Secrets:
    """Give every owner in ``owners`` a token if it has none; take ``drop``'s away."""
    async with services._rotating:  # noqa: SLF001 - the one lock every token write takes
        secrets = await services.secrets(event_id)
        tokens = dict(secrets.owner_tokens)
        missing = [o for o in owners if o not in tokens]
        gone = [o for o in drop if o in tokens]
        if not missing and not gone:
            return secrets
        for oid in missing:
            tokens[oid] = domain.new_token()
        for oid in gone:
            del tokens[oid]
        secrets = replace(secrets, owner_tokens=tokens)
        await services._guard(services.store.save_secrets(event_id, secrets))  # noqa: SLF001
        return secrets


async def rotate_owner(services: Services, event_id: str, owner: str) -> Secrets:
    """A fresh link for one owner: the old one answers 401 and its sockets close."""
    async with services._rotating:  # noqa: SLF001
        secrets = await services.secrets(event_id)
        if owner not in secrets.owner_tokens:
            raise errors.NotFound("This owner has no follow-up link; open follow-up first.")
        tokens = {**secrets.owner_tokens, owner: domain.new_token()}
        secrets = replace(secrets, owner_tokens=tokens)
        await services._guard(services.store.save_secrets(event_id, secrets))  # noqa: SLF001
    await announce(services, event_id, [owner])
    return secrets


async def announce(services: Services, event_id: str, owners: list[str]) -> None:
    """An ``access`` change per owner whose token changed: every worker's hub closes
    the sockets its old token opened (never the token itself in the log)."""
    for owner in owners:
        entity_id = f"owner-{owner}"
        for _attempt in range(3):
            board = await services.board(event_id)
            current = board.entities.get(domain.entity_key(ACCESS, entity_id))
            rotation = int(current.get("rotation", 0)) + 1 if current else 1
            command = make_command(
                ACCESS, "update" if current else "create", entity_id, None,
                {"target": entity_id, "rotation": rotation},
                key=f"{ACCESS}:{entity_id}:{domain.new_token()}")
            try:
                await services.submit(event_id, command)
                break
            except errors.Conflict:
                continue


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
        raise errors.Forbidden("Your link reports on your own actions only.")


async def report(services: Services, event_id: str, action_id: str, access: Access,
                 patch: ProgressPatch, fields: dict[str, Any]) -> tuple[Appended, Board]:
    """Store one report on one action: versioned like an item (0 = not reported yet)."""
    board = await services.board(event_id)
    found = followup.find(board, action_id)
    if found is None:
        raise errors.NotFound("There is no such action (it may have been deleted or merged).")
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
    except errors.Conflict as error:
        if "current" in error.extra:
            # The action with its progress as it stands, not the bare progress entity.
            fresh = await services.board(event_id)
            now = followup.find(fresh, action_id)
            if now is not None:
                error.extra["current"] = followup.action_json(fresh, now, today())
        raise
    return appended, await services.board(event_id)


def _digest(fields: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]

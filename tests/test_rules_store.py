"""The rules that span entities, decided by each store's atomic append (rules.py).

Run against both stores; appends fired together land in one SQLite batch (decided
against what the batch decided before them) or race in Redis (checked by the script).
"""

from __future__ import annotations

import asyncio

import pytest

from facilitation import domain
from facilitation.broker import Broker
from facilitation.domain import EVENT, ITEM, MERGE, PLENARY, PLENARY_ID, VOTE, make_command, vote_id
from facilitation.store import Store
from tests.test_store_contract import backend, create, new_event  # noqa: F401 - the fixture

pytestmark = pytest.mark.usefixtures("backend")


def vote(voter: str, item: str) -> domain.Command:
    return make_command(VOTE, "create", vote_id(voter, item), None, {"item": item, "voter": voter})


async def settle(appends: list[asyncio.Future[object]] | list[object]) -> list[object]:
    return list(await asyncio.gather(*appends, return_exceptions=True))  # type: ignore[arg-type]


async def test_votes_within_the_budget_only(backend: tuple[Store, Broker]) -> None:  # noqa: F811
    store, _ = backend
    event_id = await new_event(store)
    for n in range(5):
        await store.append(event_id, create(f"i{n}"))
    with pytest.raises(domain.Conflict, match="not open"):
        await store.append(event_id, vote("kari", "i0"))
    await store.append(event_id, make_command(PLENARY, "create", PLENARY_ID, None,
                                              {"voting": True, "votes_per_person": 2}))
    outcomes = await settle([store.append(event_id, vote("kari", f"i{n}")) for n in range(5)])
    refused = [o for o in outcomes if isinstance(o, domain.Conflict)]
    assert len(refused) == 3 and all("used all your votes" in str(o) for o in refused)
    board = await store.board(event_id)
    assert board is not None and len(board.live(VOTE)) == 2
    # A vote whose id is not its voter's and action's is refused: one vote per person per action.
    forged = make_command(VOTE, "create", "forged", None, {"item": "i4", "voter": "ola"})
    with pytest.raises(domain.DomainError):
        await store.append(event_id, forged)


async def test_an_item_is_in_one_live_joint_action(backend: tuple[Store, Broker]) -> None:  # noqa: F811
    store, _ = backend
    event_id = await new_event(store)
    for name in ("x", "y", "z"):
        await store.append(event_id, create(name))
    merges = [make_command(MERGE, "create", f"m{n}", None, {"text": "t", "items": ["x", other]})
              for n, other in enumerate(("y", "z"))]
    outcomes = await settle([store.append(event_id, m) for m in merges])
    assert sum(isinstance(o, domain.Conflict) for o in outcomes) == 1
    winner = next(m for m, o in zip(merges, outcomes, strict=True)
                  if not isinstance(o, Exception))
    # Undone, the item is free again.
    await store.append(event_id, make_command(MERGE, "delete", winner.entity_id, None))
    await store.append(event_id, make_command(MERGE, "create", "m9", None,
                                              {"text": "t", "items": ["x", "z"]}))


async def test_a_room_is_removed_only_while_empty(backend: tuple[Store, Broker]) -> None:  # noqa: F811
    store, _ = backend
    event_id = await new_event(store)
    board = await store.board(event_id)
    assert board is not None
    one = [r for r in board.event["rooms"] if r["id"] == "r1"]
    await store.append(event_id, create("a", room="r2"))
    removal = make_command(EVENT, "update", event_id, None, {"rooms": one}, version=1)
    with pytest.raises(domain.Conflict, match="cannot be removed"):
        await store.append(event_id, removal)
    await store.append(event_id, make_command(ITEM, "delete", "a", "r2"))
    # The removal and a create in that room, together: exactly one of them is stored.
    outcomes = await settle([store.append(event_id, removal),
                             store.append(event_id, create("b", room="r2"))])
    assert sum(isinstance(o, Exception) for o in outcomes) == 1
    board = await store.board(event_id)
    assert board is not None
    rooms = {r["id"] for r in board.event["rooms"]}
    assert ("r2" in rooms) == bool(board.live(ITEM, "r2"))
    if "r2" not in rooms:
        with pytest.raises(domain.NotFound):
            await store.append(event_id, create("c", room="r2"))

"""The plenary's actions kept change by change (facilitation/lineup.py) equal the same
actions read from the whole board, whatever the changes (issue 18: no pass over the
whole board per request)."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from facilitation import lineup as lineup_module
from facilitation.domain import ITEM, MERGE, ROLE, VOTE, Board, Change
from facilitation.lineup import lineup
from facilitation.plenary import actions, actions_whole, room_counts

ROOMS = ("r1", "r2", "r3")


def whole_counts(board: Board) -> dict[str, dict[str, int]]:
    merged = {i for m in board.live(MERGE) for i in m["items"]}
    out = {r: {"items": 0, "merged": 0, "roles": 0, "present": 0} for r in ROOMS}
    for item in board.live(ITEM):
        out[item["room"]]["merged" if item["id"] in merged else "items"] += 1
    for role in board.live(ROLE):
        out[role["room"]]["roles"] += 1
    return out


def seen(found: list[Any]) -> list[tuple[Any, ...]]:
    return [(a.kind, a.id, a.entity.get("version"), tuple(a.rooms), tuple(a.goals), a.votes,
             tuple(s["id"] for s in a.sources)) for a in found]


class Events:
    """A board and random changes to it, as the store would apply them."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.board = Board("e1", entities={"event:e1": {
            "id": "e1", "version": 1, "rooms": [{"id": r, "name": r} for r in ROOMS]}})
        self.seq = 0
        self.n = 0

    def put(self, kind: str, entity_id: str, data: dict[str, Any]) -> None:
        self.seq += 1
        key = f"{kind}:{entity_id}"
        before = self.board.entities.get(key)
        version = (before or {}).get("version", 0) + 1
        # Times that tie now and then: the order's second and third keys count too.
        at = f"2026-01-01T00:00:{self.rng.randrange(60):02d}"
        created = (before or {}).get("created_at", at)
        self.board.apply(Change(self.seq, data.get("room"), f"{kind}.x", key, at,
                                {"id": entity_id, "version": version, "created_at": created,
                                 **data}))

    def live(self, kind: str) -> list[dict[str, Any]]:
        return self.board.live(kind)

    def step(self) -> None:
        rng, n = self.rng, self.n
        self.n += 1
        items, merges = self.live(ITEM), self.live(MERGE)
        choice = rng.random()
        if choice < 0.35 or not items:
            self.put(ITEM, f"i{n}", {"room": rng.choice(ROOMS), "text": f"t{n}",
                                     "goals": rng.sample(["g1", "g2"], rng.randrange(3))})
        elif choice < 0.45:
            item = rng.choice(items)
            self.put(ITEM, item["id"], {**item, "text": item["text"] + "!", "goals": ["g2"]})
        elif choice < 0.52:
            item = rng.choice(items)
            self.put(ITEM, item["id"], {**item, "deleted": True})
        elif choice < 0.75:
            target = rng.choice(items + merges)
            self.put(VOTE, f"v{n}", {"item": target["id"], "voter": f"p{rng.randrange(4)}"})
        elif choice < 0.8 and self.live(VOTE):
            vote = rng.choice(self.live(VOTE))
            self.put(VOTE, vote["id"], {**vote, "deleted": True})
        elif choice < 0.88 and len(items) >= 2:
            chosen = rng.sample(items, 2)
            self.put(MERGE, f"m{n}", {"items": [i["id"] for i in chosen], "text": f"m{n}",
                                      "rooms": sorted({i["room"] for i in chosen}),
                                      **({"goals": ["g1"]} if rng.random() < 0.5 else {})})
        elif choice < 0.93 and merges:
            merge = rng.choice(merges)
            self.put(MERGE, merge["id"], {**merge, "deleted": True})
        else:
            self.put(ROLE, f"r{n}", {"room": rng.choice(ROOMS), "actor": "A", "role": "Lead",
                                     "responsibility": "x"})


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), steps=st.integers(1, 120), look=st.integers(1, 9))
def test_the_lineup_equals_a_whole_read_after_any_changes(seed: int, steps: int, look: int) -> None:
    events = Events(random.Random(seed))
    for n in range(steps):
        events.step()
        if n % look == 0:  # read now and then: the lineup follows what changed since
            board = events.board
            assert seen(actions(board)) == seen(actions_whole(board))
            assert seen(actions(board, "votes")) == seen(actions_whole(board, "votes"))
            assert room_counts(board, {}) == whole_counts(board)
    board = events.board
    assert seen(actions(board)) == seen(actions_whole(board))
    assert room_counts(board, {}) == whole_counts(board)
    whole = actions_whole(board)
    kept = lineup(board)
    assert seen(kept.merge_actions()) == seen([a for a in whole if a.kind == "merge"])
    for room in ROOMS:  # what the moderator's refresh appends new items after
        mine = [a for a in whole if a.kind == "item" and a.rooms[0] == room]
        for n in range(1, 4):
            tail, more = kept.room_tail(room, n)
            assert seen(tail) == seen(mine[-n:]) and more == (len(mine) > n)


def test_a_read_costs_what_changed_not_the_board(monkeypatch: Any) -> None:
    """After the first read, a change makes the lineup look at the entries it touched
    only: never the whole board again (unless it cannot tell what changed)."""
    events = Events(random.Random(18))
    for _ in range(400):
        events.step()
    kept = lineup(events.board)
    kept.actions()
    settled: list[str] = []
    original = kept._settle
    monkeypatch.setattr(kept, "_settle", lambda entry_id: (settled.append(entry_id),
                                                            original(entry_id))[1])
    monkeypatch.setattr(lineup_module.Lineup, "_read_whole",
                        lambda self: (_ for _ in ()).throw(AssertionError("read whole")))
    events.put(ITEM, "new", {"room": "r1", "text": "new", "goals": []})
    assert seen(kept.actions()) == seen(actions_whole(events.board))
    assert settled == ["new"]

"""Likely duplicates and alike responsibilities, found incrementally (similarity.py, follow.py).

Behaviour only: what is found, that each new text costs a bounded number of
comparisons whatever the event's size, and that the event loop is shared while a
big board is compared. Timings live in benchmarks/duplicates.py.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid
from typing import Any

import pytest

from facilitation import follow, plenary, similarity
from facilitation.domain import EVENT, ITEM, MERGE, ROLE, Board, Change, decide, make_command


class Events:
    """A board built change by change, as a store folds its log."""

    def __init__(self, rooms: int = 3) -> None:
        self.board = Board("ev")
        self.seq = 0
        self.rooms = [f"r{i}" for i in range(rooms)]
        self.apply(EVENT, "create", "ev", None, {
            "title": "T", "rooms": [{"id": r, "name": r.upper(), "prompt": ""} for r in self.rooms],
            "goals": []})

    def apply(self, kind: str, op: str, entity_id: str, room: str | None,
              fields: dict[str, Any] | None = None) -> dict[str, Any]:
        self.seq += 1
        command = make_command(kind, op, entity_id, room, fields or {})
        current = self.board.entities.get(f"{kind}:{entity_id}")
        data = decide(command, current, False, f"2026-01-01T00:00:{self.seq:09.3f}Z")
        self.board.apply(Change(self.seq, room, command.change_type, command.key, "", data))
        return data

    def item(self, room: str, text: str) -> str:
        item_id = uuid.uuid4().hex
        self.apply(ITEM, "create", item_id, room, {"text": text})
        return item_id


def pair_texts(board: Board) -> set[frozenset[str]]:
    return {frozenset(i["text"] for i in p["items"]) for p in plenary.suggestions(board, 50)}


def test_alike_items_of_different_rooms_are_suggested_and_follow_edits_deletes_and_merges() -> None:
    ev = Events()
    a = ev.item("r0", "Set up a joint contact list for ports and municipalities")
    b = ev.item("r1", "Set up joint contact list for the ports and municipalities")
    ev.item("r2", "Plan the winter exercise with the power companies")
    same_room = ev.item("r0", "Set up a joint contact list for ports and municipalities!")
    found = plenary.suggestions(ev.board)
    assert [{i["id"] for i in p["items"]} for p in found] == [{a, b}, {same_room, b}]
    assert found[0]["items"][0]["id"] == a  # the earlier item first
    # An edit is compared again; a delete and a merge take an item out.
    ev.apply(ITEM, "update", b, "r1", {"text": "Buy new radios for the coast guard"})
    assert plenary.suggestions(ev.board) == []
    ev.apply(ITEM, "update", b, "r1", {"text": "Set up a joint contact list for ports"})
    assert len(plenary.suggestions(ev.board)) == 2
    ev.apply(ITEM, "delete", same_room, "r0")
    assert [{i["id"] for i in p["items"]} for p in plenary.suggestions(ev.board)] == [{a, b}]
    ev.apply(MERGE, "create", "m1", None, {"items": [a, b], "rooms": ["r0", "r1"], "text": "x"})
    assert plenary.suggestions(ev.board) == []
    ev.apply(MERGE, "delete", "m1", None)
    assert len(plenary.suggestions(ev.board)) == 1


def test_the_index_finds_what_comparing_every_pair_finds_on_a_small_board() -> None:
    rng = random.Random(7)
    topics = ["contact list for ports", "winter exercise with power companies",
              "shared situational picture", "fuel supply for the hospitals",
              "radio coverage in the fjords", "evacuation plan for the islands"]
    ev = Events(4)
    for n in range(60):
        words = rng.choice(topics).split()
        if rng.random() < 0.5:
            words.insert(rng.randrange(len(words)), rng.choice(["the", "a", "new", "joint"]))
        ev.item(rng.choice(ev.rooms), " ".join(words) + rng.choice(["", ".", " now", f" {n}"]))
    items = ev.board.live(ITEM)
    expected = {
        frozenset((x["id"], y["id"])) for x, y in itertools.combinations(items, 2)
        if x["room"] != y["room"] and similarity.duplicate_score(
            similarity.normalise(x["text"]), similarity.normalise(y["text"])) >= follow.DUPLICATE_SCORE
    }
    models = follow.models(ev.board)
    assert models.work(None)
    found = {frozenset((a, b)) for a, b, _ in models.duplicates.all_pairs()}
    # Each text keeps its best CANDIDATES; here no text has more alike ones than that.
    assert len(expected) > 20
    assert found == expected


def test_each_new_text_costs_a_bounded_number_of_comparisons_whatever_the_event_size() -> None:
    calls = 0

    def counting(a: str, b: str) -> float:
        nonlocal calls
        calls += 1
        return similarity.duplicate_score(a, b)

    index = similarity.PairIndex(counting, follow.DUPLICATE_SCORE)
    # The worst case for blocking: every text shares every word (an attacker's flood).
    for n in range(2000):
        before = calls
        index.put(str(n), "the same words again and again " * 60, group=str(n % 5))
        assert calls - before <= similarity.CANDIDATES
    assert calls <= 2000 * similarity.CANDIDATES
    assert index.best(3)[0][2] == 100


def test_roles_conflicts_two_leads_and_one_actor_with_two_roles() -> None:
    ev = Events()
    ev.apply(ROLE, "create", "a", "r0", {"actor": "NVE", "role": "Lead",
                                         "responsibility": "Flood warnings for the region"})
    ev.apply(ROLE, "create", "b", "r1", {"actor": "Statens vegvesen", "role": "Coordinator",
                                         "responsibility": "flood warnings for the region"})
    ev.apply(ROLE, "create", "c", "r2", {"actor": "nve", "role": "Support",
                                         "responsibility": "Flood warnings for the region."})
    ev.apply(ROLE, "create", "d", "r2", {"actor": "Red Cross", "role": "Lead",
                                         "responsibility": "Volunteers at the shelters"})
    matrix = plenary.roles_matrix(ev.board)
    kinds = sorted((c["kind"], c["roles"][0]["id"], c["roles"][1]["id"]) for c in matrix["conflicts"])
    assert kinds == [("contradicting", "a", "c"), ("two_leads", "a", "b")]
    assert matrix["flagged"] == {"a", "b", "c"}
    ev.apply(ROLE, "update", "b", "r1", {"responsibility": "Road closures"})
    assert [c["kind"] for c in plenary.roles_matrix(ev.board)["conflicts"]] == ["contradicting"]


def test_names_written_two_ways() -> None:
    assert similarity.likely_same_name("Statens vegvesen", "statens  Vegvesen")
    assert similarity.likely_same_name("N.V.E.", "nve")
    assert similarity.likely_same_name("Kystverket Vest", "Vest Kystverket")
    assert similarity.likely_same_name("Fylkesmannen", "Fylkesmanen")
    assert not similarity.likely_same_name("NVE", "NVE Region Sør")
    assert not similarity.likely_same_name("", "")
    groups = similarity.alike_names(["NVE", "Red Cross", "n.v.e", "Røde Kors", "red  cross",
                                     "NVE", "Statnett"])
    assert groups == [["NVE", "n.v.e"], ["Red Cross", "red  cross"]]


async def test_a_big_board_is_compared_in_slices_while_the_loop_serves_others() -> None:
    ev = Events(6)
    rng = random.Random(1)
    words = [f"word{n}" for n in range(3000)]
    for n in range(1500):
        ev.item(ev.rooms[n % 6], " ".join(rng.choice(words) for _ in range(60)))
    ticks = 0
    stop = False

    async def others() -> None:  # what /healthz needs: turns of the loop
        nonlocal ticks
        while not stop:
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(others())
    await asyncio.sleep(0)
    done = await follow.settle(ev.board, wait=0.001)
    assert not done and follow.pending(ev.board) > 0  # answered before the work was done
    while not await follow.settle(ev.board, wait=0.05):
        pass
    stop = True
    await ticker
    # The loop turned between slices: many times, not once at the end.
    assert ticks > 20
    assert follow.pending(ev.board) == 0


@pytest.mark.parametrize("overflow", [False, True])
def test_a_board_nobody_reads_keeps_a_bounded_journal(overflow: bool,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from facilitation import domain

    monkeypatch.setattr(domain, "JOURNAL_MAX", 5 if overflow else 1000)
    ev = Events()
    a = ev.item("r0", "Set up a joint contact list for ports")
    assert ev.board.journal is None  # nobody asked: nothing is kept
    plenary.suggestions(ev.board)
    for n in range(10):
        ev.item("r1", f"Something else entirely number {n}")
    b = ev.item("r1", "Set up a joint contact list for the ports")
    assert ev.board.journal is None if overflow else len(ev.board.journal or []) == 11
    assert [{i["id"] for i in p["items"]} for p in plenary.suggestions(ev.board)] == [{a, b}]


async def test_a_read_on_the_loop_is_complete_unless_it_asks_for_what_is_compared_so_far() -> None:
    ev = Events()
    a = ev.item("r0", "Set up a joint contact list for ports and municipalities")
    b = ev.item("r1", "Set up joint contact list for the ports and municipalities")
    # A caller that did not settle (an export rendered in the server, a test) gets it all.
    follow.models(ev.board)
    assert [{i["id"] for i in p["items"]} for p in plenary.suggestions(ev.board)] == [{a, b}]
    c = ev.item("r2", "Set up a joint contact list for ports and the municipalities")
    assert len(plenary.suggestions(ev.board, partial=True)) == 1  # c not compared yet
    assert await follow.settle(ev.board)
    assert len(plenary.suggestions(ev.board, partial=True)) == 3
    assert c

"""The cost of follow-up's read model on the event loop, for a large event (not a test).

    python -m benchmarks.followup [--items 2000] [--owners 200] [--rounds 50]

Builds a board in memory (items spread over rooms, each owned by one of ``--owners``
owners, a tenth of them reported on) and times, per call, what a request or a push
computes after a change (the per-seq index built again, then shared by every ask at
that seq): the organiser's summary (``GET …/follow-up`` and its page's live region),
one owner's actions (the owner's page), ``find`` (every report and every owner-page
push), and ``likely_same`` (the organiser's page). Prints p50 and p99 in ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from facilitation import followup
from facilitation.domain import EVENT, ITEM, OWNER, PROGRESS, Board, Change, decide, make_command


def board(items: int, owners: int) -> Board:
    out = Board("bench")
    seq = 0

    def put(kind: str, entity_id: str, room: str | None, fields: dict[str, Any]) -> None:
        nonlocal seq
        seq += 1
        command = make_command(kind, "create", entity_id, room, fields)
        data = decide(command, None, False, f"2026-11-25T10:00:{seq % 60:02d}.000Z")
        out.apply(Change(seq, room, f"{kind}.created", command.key, data["created_at"], data))

    rooms = [{"id": f"r{n}", "name": f"Room {n}", "prompt": ""} for n in range(25)]
    goals = [{"id": f"g{n}", "text": f"Goal {n}"} for n in range(8)]
    put(EVENT, "bench", None, {"title": "Bench", "rooms": rooms, "goals": goals})
    names = [f"Organisation {n}" for n in range(owners)]
    ids = []
    for n in range(items):
        item = str(uuid.uuid4())
        ids.append(item)
        put(ITEM, item, rooms[n % len(rooms)]["id"], {
            "text": f"Action {n}: set up a joint contact list for the region's services",
            "owner": names[n % owners], "goals": [goals[n % len(goals)]["id"]],
            "due": "2027-03-01"})
    plan = followup.plan_owners(out, [])
    for oid, fields in plan.upsert.items():
        put(OWNER, oid, None, fields)
    for n, item in enumerate(ids[::10]):
        put(PROGRESS, item, rooms[(n * 10) % len(rooms)]["id"],
            {"status": "in_progress", "progress": 50, "note": "On track"})
    return out


def timed(work: Callable[[], object], rounds: int) -> tuple[float, float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        work()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--owners", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    b = board(args.items, args.owners)
    owner = followup.owners(b)[0]["id"]
    action = followup.followed(b)[args.items // 2].id
    today = followup.today()
    print(f"{args.items} items, {args.owners} owners; load average {os.getloadavg()[0]:.2f}")
    def fresh(work: Callable[[], object]) -> Callable[[], object]:
        # As after a change: the index is built again (once per seq, then shared).
        def run() -> object:
            b.derived.pop("followup", None)
            return work()
        return run

    for name, work in (
        ("index (built once per change)", fresh(lambda: followup.index(b))),
        ("summary (GET follow-up, organiser refresh)", fresh(lambda: followup.summary(b, today))),
        ("of_owner (owner's page)", fresh(lambda: followup.of_owner(b, owner))),
        ("find (a report, an owner-page push)", fresh(lambda: followup.find(b, action))),
        ("find again at the same seq", lambda: followup.find(b, action)),
        ("likely_same (organiser's page)", fresh(lambda: followup.likely_same(b))),
    ):
        p50, p99 = timed(work, args.rounds)
        print(f"  {name:45s} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms")


if __name__ == "__main__":
    main()

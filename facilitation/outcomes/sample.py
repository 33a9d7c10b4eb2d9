"""A realistic event of the size organisers send to leadership, as a Board.

6 rooms, 161 actions, 46 role assignments, 5 joint actions and 90 votes, with what
real rooms type: long and multi-line actions (one of 1,500 characters), names with
hyphens and parentheses, phone numbers and formulas at the start of a cell, actions
without an owner or a due date, and two role conflicts. The tests of the exports and
the review script (benchmarks/render_outcomes.py) read it; it is deterministic.
"""

from __future__ import annotations

import random

from facilitation.demo import GOALS, ROOMS
from facilitation.domain import Board, Change, decide, make_command

AT = "2026-11-25T09:00:00.000Z"
EVENT_ID = "sample-event"

EXTRA_ROOMS = [
    ("Health and care services in crises",
     "Which health and care capacities must be ready when roads and power fail for a week?"),
    ("Digital security and communications",
     "How do we keep communication running when networks and digital services are down?"),
]

VERBS = ["Establish", "Map", "Agree on", "Run", "Publish", "Set up", "Test", "Update",
         "Coordinate", "Plan", "Fund", "Review"]
OBJECTS = [
    "a shared contact list for ports, municipalities and grid operators",
    "a joint situational picture across sectors (totalforsvar)",
    "a regional exercise with HV-09 and the county",
    "the roles in the coordination forum between municipalities and the state",
    "fuel supply agreements for critical services",
    "a common template for risk and vulnerability analyses",
    "information to households about 72 hours of self-preparedness",
    "backup power for the health centres in the outer municipalities",
    "satellite phones for the crisis staffs",
    "the priority list for restoring power after a storm",
    "a pilot with private suppliers for emergency logistics",
    "training for volunteers in the civil defence and Red Cross",
]
TAILS = [
    "", "", " before the next forum", " with Lars-Erik Hansen as contact",
    " (follow up from the 2025 exercise)", " and report back to the county council",
    ", starting with the three largest ports", " — budget to be clarified",
]
OWNERS = [
    "Vestland county", "Port of Bergen", "Bergen municipality", "Statnett",
    "County Governor of Vestland", "Civil Defence West", "Red Cross Vestland", "BKK Nett",
    "Police district West", "Haukeland University Hospital", "Home Guard district 09",
    "Norwegian Coastal Administration", "Lars-Erik Hansen", "Kari Nordmann",
    "Equinor", "Telenor", "Fjord municipality", "DSB", "Avinor Flesland", "Mattilsynet",
    "+47 55 00 00 00 (duty officer)",
]
ROLE_NAMES = ["Lead", "Contact point", "Supports", "Informed", "Coordinator", "Data steward",
              "Secretariat", "Expert advisor"]
AREAS = ["Bergen", "Sunnfjord", "Hardanger", "Nordhordland", "Sogn", "Voss"]
DUTIES = [
    "Keeps the shared contact list up to date", "Convenes the coordination forum",
    "Runs the annual regional exercise", "Shares the situational picture daily",
    "Informs the public in a crisis", "Prioritises restoration of power",
    "Coordinates fuel supply", "Trains volunteers",
]

LONG_ACTION = "\n\n".join([
    "Establish a regional fuel and power resilience programme for critical services. "
    "The programme covers hospitals, health centres, water works, the ports of Bergen and "
    "Ågotnes, telecom sites and the municipal crisis staffs, and it starts with a map of "
    "who depends on which supply and for how long they can manage without it.",
    "Phase one (first quarter): every municipality lists its critical sites, their backup "
    "power, their fuel stock and the agreements that refill it. The county collects the "
    "lists in one register that the police, the Home Guard and the grid operators can read.",
    "Phase two (second quarter): the county, Statnett, BKK Nett and the fuel suppliers "
    "agree on a priority order for restoring power and delivering fuel when both are short, "
    "and test it in a table-top exercise with the County Governor.",
    "Phase three: gaps found in the exercise are closed with funding from the regional "
    "preparedness budget; what cannot be closed this year is reported to DSB with a plan.",
    "Phase four: the register and the priority order are kept up to date after every "
    "incident and every exercise, and the lessons are shared with the neighbouring "
    "counties, the Norwegian Coastal Administration and Avinor, so that the airports and "
    "the coastal routes are part of the same picture of who needs fuel and power first.",
    "Last paragraph: the programme reports to the coordination forum every quarter, and the "
    "first report is due before the next forum so leadership can see progress.",
])


class Log:
    """Applies commands to a Board as the store would (decide, then apply)."""

    def __init__(self, event_id: str = EVENT_ID) -> None:
        self.board = Board(event_id)

    def do(self, kind: str, op: str, entity_id: str, room: str | None,
           fields: dict[str, object] | None = None, version: int | None = None) -> None:
        command = make_command(kind, op, entity_id, room, fields, version=version)
        current = self.board.entities.get(command.entity_key)
        data = decide(command, current, False, AT)
        self.board.apply(Change(self.board.seq + 1, room, command.change_type, command.key, AT,
                                data))


def _action_text(rng: random.Random, n: int) -> str:
    if n == 7:
        return LONG_ACTION
    if n == 11:
        return "=SUM(A1:A9) of the pilot costs, split per municipality"
    text = f"{rng.choice(VERBS)} {rng.choice(OBJECTS)}{rng.choice(TAILS)}"
    if n % 9 == 4:
        text += "\nFirst step: a meeting in January.\nSecond step: a written agreement."
    elif n % 5 == 2:
        text += ". " + rng.choice(OBJECTS).capitalize() + " is part of it."
    return text


def board(language: str = "en", event_id: str = EVENT_ID) -> Board:
    """The sample event (deterministic): 6 rooms, 161 actions, 46 roles, 5 merges, 90 votes."""
    rng = random.Random(17)
    log = Log(event_id)
    rooms = [*ROOMS, *EXTRA_ROOMS]
    log.do("event", "create", event_id, None, {
        "title": "Security and preparedness in Vestland: from ambition to action",
        "language": language,
        "rooms": [{"id": f"r{n}", "name": name, "prompt": prompt}
                  for n, (name, prompt) in enumerate(rooms, start=1)],
        "goals": [{"id": f"g{n}", "text": text} for n, text in enumerate(GOALS, start=1)]})
    items: list[tuple[str, str, list[str]]] = []
    for n in range(161):
        room = f"r{n % 6 + 1}"
        goals = rng.sample([f"g{g}" for g in range(1, 6)], k=rng.choice([0, 1, 1, 2, 2, 3]))
        fields: dict[str, object] = {
            "text": _action_text(rng, n), "goals": goals,
            "owner": "" if n % 13 == 3 else rng.choice(OWNERS),
            "due": None if n % 12 == 5 else f"2027-{1 + n % 12:02d}-{1 + n % 28:02d}",
            "status": ("proposed", "agreed", "agreed", "done")[n % 4],
            "author": rng.choice(["Kari Nordmann", "Ola Nordmann", "Lars-Erik Hansen", ""])}
        item_id = f"i{n:03d}"
        log.do("item", "create", item_id, room, fields)
        items.append((item_id, room, goals))
    for n in range(46):
        actor = OWNERS[n % 15]
        duty = f"{DUTIES[(n * 3 + n // 8) % len(DUTIES)]} in {AREAS[n // 8]}"
        if n == 5:
            duty = ("Leads the work on a shared situational picture across sectors, including "
                    "the daily report, the contact list, the map service and the links to the "
                    "national situational centre, and makes sure every municipality can read it")
        log.do("role", "create", f"x{n:02d}", f"r{n % 6 + 1}", {
            "actor": actor, "role": ROLE_NAMES[n % len(ROLE_NAMES)], "responsibility": duty,
            "author": "Kari Nordmann"})
    # Two conflicts the plenary flags: two leads for one duty, one actor with two roles.
    duty = f"{DUTIES[0]} in {AREAS[0]}"
    log.do("role", "update", "x09", "r4", {"role": "Lead", "responsibility": duty}, version=1)
    log.do("role", "update", "x15", "r4", {"actor": OWNERS[0], "role": "Supports",
                                           "responsibility": duty}, version=1)
    merged: list[str] = []
    for m in range(5):
        sources = [items[m * 12][0], items[m * 12 + 1][0], items[m * 12 + 2][0]][: 2 + m % 2]
        goals = list(dict.fromkeys(g for i, _, gs in items if i in sources for g in gs))
        rooms_of = list(dict.fromkeys(room for i, room, _ in items if i in sources))
        log.do("merge", "create", f"m{m}", None, {
            "text": f"Joint: {OBJECTS[m * 2]}", "items": sources, "rooms": rooms_of,
            "goals": goals, "status": "agreed" if m < 3 else "proposed", "owner": "",
            "due": None})
        merged += sources
    # The moderator narrows the first joint action to one goal.
    log.do("merge", "update", "m0", None, {"goals": ["g1"]}, version=1)
    targets = [f"m{m}" for m in range(5)] + [i for i, _, _ in items if i not in merged]
    for voter in range(30):
        for target in rng.sample(targets[:40], k=3):
            log.do("vote", "create", f"v{voter}-{target}", None,
                   {"item": target, "voter": f"p{voter}"})
    return log.board

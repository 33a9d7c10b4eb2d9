"""The plenary board's acceptance event (issue 16): three rooms of four actions and two roles
each, voting open with votes cast, a five-minute countdown; and six rooms of ten actions,
which the board must page."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.conftest import auth, item_body, new_event

EVENT = {
    "title": "Security and preparedness: from ambition to action",
    "rooms": [
        {"name": "Coordination across levels of governance",
         "prompt": "Who convenes whom when no single actor has the full mandate?"},
        {"name": "Critical infrastructure and ports",
         "prompt": "How do ports, grid operators and suppliers share one picture day to day?"},
        {"name": "Citizens and industry",
         "prompt": "What can the region do next year so people know what to do in a crisis?"},
    ],
    "goals": [
        "Shared situational picture across sectors",
        "Clear roles and mandates at every level",
        "Joint exercises and training",
        "Informed and prepared citizens",
        "Secure digital communications",
    ],
}

# Per room: (text, owner, due, goal numbers) and (actor, role, responsibility).
ITEMS: list[list[tuple[str, str, str | None, list[int]]]] = [
    [("Set up a regional preparedness forum that meets twice a year", "County council",
      "2027-03-01", [2]),
     ("Map who holds which emergency plan in the region", "County governor", "2027-02-01", [2]),
     ("Joint contact list for port authorities and municipal emergency services",
      "Port of Bergen", None, [1]),
     ("Agree who convenes when a crisis crosses municipal borders", "State administrator",
      "2027-04-15", [2])],
    [("Joint contact list for port authorities and emergency services", "Port of Bergen",
      "2027-01-15", [1]),
     ("Share grid and port status on one dashboard", "Grid operator", None, [1]),
     ("Agree fuel priorities for ports during outages", "Port authority", "2027-05-01", []),
     ("Yearly joint exercise with the Home Guard and private suppliers", "Home Guard",
      "2027-09-01", [3])],
    [("Publish what citizens should do in the first 72 hours", "Municipality", "2027-01-31",
      [4]),
     ("Preparedness week in schools and workplaces", "County council", None, [4, 3]),
     ("Train small businesses to keep going through a week-long outage", "Chamber of commerce",
      "2027-06-01", [4]),
     ("One page on the county website with every current warning", "County council", None,
      [1, 4])],
]

ROLES: list[list[tuple[str, str, str]]] = [
    [("County council", "Lead", "Convene the regional preparedness forum"),
     ("Municipalities", "Participant", "Bring local emergency plans")],
    [("Port of Bergen", "Lead", "Keep the joint contact list up to date"),
     ("Grid operator", "Data owner", "Publish grid status to the dashboard")],
    [("Municipality", "Lead", "Citizen information in the first 72 hours"),
     ("State administrator", "Lead", "Convene the regional preparedness forum")],
]


async def fill(client: httpx.AsyncClient, event: dict[str, Any],
               items: list[list[tuple[str, str, str | None, list[int]]]],
               roles: list[list[tuple[str, str, str]]]) -> list[list[dict[str, Any]]]:
    goal_ids = [g["id"] for g in event["goals"]]
    made: list[list[dict[str, Any]]] = []
    for room, mine, theirs in zip(event["rooms"], items, roles, strict=True):
        base = f"/api/events/{event['id']}/rooms/{room['id']}"
        token = auth(room["join_token"])
        added = []
        for text, owner, due, goals in mine:
            answer = await client.post(f"{base}/items", headers=token, json=item_body(
                text, owner=owner, due=due, goals=[goal_ids[g - 1] for g in goals]))
            assert answer.status_code == 201, answer.text
            added.append(answer.json())
        for actor, role, responsibility in theirs:
            answer = await client.post(f"{base}/roles", headers=token, json={
                "id": str(uuid.uuid4()), "actor": actor, "role": role,
                "responsibility": responsibility})
            assert answer.status_code == 201, answer.text
        made.append(added)
    return made


async def three_rooms(client: httpx.AsyncClient) -> tuple[dict[str, Any], list[list[dict[str, Any]]]]:
    """The acceptance event: 3 rooms x 4 actions x 2 roles, votes cast, a 5-minute timer."""
    event = await new_event(client, EVENT)
    eid = event["id"]
    organiser = auth(event["organiser_token"])
    items = await fill(client, event, ITEMS, ROLES)
    answer = await client.patch(f"/api/events/{eid}/plenary", headers=organiser,
                                json={"voting": True, "votes_per_person": 3})
    assert answer.status_code == 200, answer.text
    # Five people vote: 3 + 3 + 2 + 1 + 1 = 10 votes.
    ballots = {"ana": [(2, 0), (1, 1), (0, 0)], "bo": [(2, 0), (1, 1), (0, 1)],
               "cy": [(2, 0), (0, 0)], "di": [(1, 3)], "ed": [(2, 2)]}
    for voter, picks in ballots.items():
        for room, n in picks:
            answer = await client.post(f"/api/events/{eid}/votes", headers=organiser,
                                       json={"item": items[room][n]["id"], "voter": voter})
            assert answer.status_code == 201, answer.text
    answer = await client.put(f"/api/events/{eid}/timer", headers=organiser,
                              json={"seconds": 300, "label": "Feedback"})
    assert answer.status_code == 200, answer.text
    return event, items


async def six_rooms_of_ten(client: httpx.AsyncClient) -> dict[str, Any]:
    """Six rooms of ten actions (and two roles) each: more than one screen holds."""
    event = await new_event(client, {
        "title": "Regional preparedness forum",
        "rooms": [{"name": f"Room {n}: " + room["name"], "prompt": room["prompt"]}
                  for n, room in enumerate(EVENT["rooms"] * 2, start=1)],  # type: ignore[index]
        "goals": EVENT["goals"],
    })
    texts = [text for room in ITEMS for text, *_ in room]
    items = [[(f"{texts[(r * 10 + n) % len(texts)]} ({n + 1})", "County council",
               "2027-03-01" if n % 2 else None, [1 + n % 4]) for n in range(10)]
             for r in range(6)]
    roles = [ROLES[r % 3] for r in range(6)]
    await fill(client, event, items, roles)
    return event

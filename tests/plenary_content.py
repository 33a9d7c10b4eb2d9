"""Six rooms of real-looking content (from shared/event-example.txt) for the plenary tests."""

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
         "prompt": "How do ports, grid operators and suppliers share a picture day to day?"},
        {"name": "Civil-military cooperation",
         "prompt": "What does each actor need from defence, and defence from them?"},
        {"name": "Citizens and industry",
         "prompt": "What can the region do in the next year so people know what to do?"},
        {"name": "Regional offices in Brussels",
         "prompt": "Which EU instruments can fund joint preparedness projects?"},
        {"name": "Research and project development",
         "prompt": "Which joint initiatives should we develop after today?"},
    ],
    "goals": [
        "Shared situational picture across sectors",
        "Clear roles and mandates at every level",
        "Joint exercises and training",
        "Resilient critical infrastructure",
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
      "Port of Bergen", None, [1])],
    [("Joint contact list for port authorities and emergency services", "Port of Bergen",
      "2027-01-15", [1]),
     ("Share grid and port status on one dashboard", "Grid operator", None, [1, 4]),
     ("Agree fuel priorities for ports during outages", "Port authority", None, [4])],
    [("Yearly joint exercise with the Home Guard and private suppliers", "Home Guard",
      "2027-05-01", [3]),
     ("Clarify which supplier contracts hold in a crisis", "Procurement office", None, [4])],
    [("Publish what citizens should do in the first 72 hours", "Municipality", "2027-01-31",
      [5]),
     ("Preparedness week in schools and workplaces", "County council", None, [5, 3])],
    [("Apply for EU funding for a joint cross-border exercise", "West Norway Brussels Office",
      "2027-04-15", [3]),
     ("Bring the region's lessons to the EU preparedness union strategy", "Brussels office",
      None, [])],
    [("Research project on crisis communication with industry", "University of Bergen",
      None, [5]),
     ("Pilot a shared situational picture for ports and municipalities", "Research council",
      "2027-06-01", [1])],
]

ROLES: list[list[tuple[str, str, str]]] = [
    [("County council", "Lead", "Convene the regional preparedness forum"),
     ("Municipalities", "Participant", "Bring local emergency plans")],
    [("Port of Bergen", "Lead", "Keep the joint contact list up to date"),
     ("Grid operator", "Data owner", "Publish grid status to the dashboard")],
    [("Home Guard", "Coordinator", "Plan the yearly joint exercise"),
     ("Private suppliers", "Support", "Logistics during the exercise")],
    [("Municipality", "Lead", "Citizen information in the first 72 hours"),
     ("County council", "Support", "Convene the regional preparedness forum")],
    [("West Norway Brussels Office", "Lead", "Funding applications"),
     ("State administrator", "Lead", "Convene the regional preparedness forum")],
    [("University of Bergen", "Lead", "Crisis communication research"),
     ("Research council", "Funder", "Pilot financing")],
]


async def six_rooms(client: httpx.AsyncClient) -> tuple[dict[str, Any], list[list[dict[str, Any]]]]:
    """An event with content in all six rooms: (event, items per room)."""
    event = await new_event(client, EVENT)
    goal_ids = [g["id"] for g in event["goals"]]
    made: list[list[dict[str, Any]]] = []
    for room, items, roles in zip(event["rooms"], ITEMS, ROLES, strict=True):
        base = f"/api/events/{event['id']}/rooms/{room['id']}"
        token = auth(room["join_token"])
        mine = []
        for text, owner, due, goals in items:
            answer = await client.post(f"{base}/items", headers=token, json=item_body(
                text, owner=owner, due=due, goals=[goal_ids[g - 1] for g in goals]))
            assert answer.status_code == 201, answer.text
            mine.append(answer.json())
        for actor, role, responsibility in roles:
            answer = await client.post(f"{base}/roles", headers=token, json={
                "id": str(uuid.uuid4()), "actor": actor, "role": role,
                "responsibility": responsibility})
            assert answer.status_code == 201, answer.text
        made.append(mine)
    return event, made

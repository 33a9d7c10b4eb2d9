"""The demo event, from the example event beside the design (shared/event-example.txt).

Created on a first start so that a newcomer can click straight into a room.
"""

from __future__ import annotations

from facilitation.schemas import EventIn, RoomIn

TITLE = "Security and preparedness: from ambition to action"

ROOMS = [
    ("Coordination across levels of governance",
     "Who convenes whom when no single actor has the full mandate? Which coordination "
     "mechanism should exist between municipalities, the county and the state?"),
    ("Critical infrastructure and ports",
     "How do port authorities, grid operators and private suppliers share a picture of "
     "the situation day to day, before a crisis?"),
    ("Civil-military cooperation and private suppliers",
     "What does each actor need from defence, and defence from them, to be ready? Which "
     "interfaces must be clarified first?"),
    ("Preparedness for citizens and industry",
     "What can the region do in the next year so that citizens and businesses know "
     "what to do when normal situations turn into crises?"),
]

GOALS = [
    "Shared situational picture across sectors",
    "Clear roles and mandates at every level of government",
    "Joint exercises and training",
    "Resilient critical infrastructure and supply chains",
    "Informed and prepared citizens",
]


def demo_event() -> EventIn:
    return EventIn(
        title=TITLE,
        rooms=[RoomIn(name=name, prompt=prompt) for name, prompt in ROOMS],
        goals=GOALS,
    )

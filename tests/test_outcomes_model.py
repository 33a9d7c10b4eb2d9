"""The outcomes model on boards built directly (pure: no server)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from facilitation.domain import Board, Change, decide, make_command
from facilitation.outcomes import FORMATS, build, export

AT = "2026-11-25T09:00:00.000Z"


class Log:
    def __init__(self) -> None:
        self.board = Board("e1")
        self.do("event", "create", "e1", None, {
            "title": "Preparedness", "language": "nb",
            "rooms": [{"id": "r1", "name": "Ports", "prompt": "Who?"},
                      {"id": "r2", "name": "Citizens", "prompt": ""}],
            "goals": [{"id": "g1", "text": "Shared picture"}, {"id": "g2", "text": "Exercises"}]})

    def do(self, kind: str, op: str, entity_id: str, room: str | None,
           fields: dict[str, object] | None = None) -> None:
        command = make_command(kind, op, entity_id, room, fields)
        current = self.board.entities.get(command.entity_key)
        data = decide(command, current, False, AT)
        change = Change(self.board.seq + 1, room, command.change_type, command.key, AT, data)
        self.board.apply(change)


def test_orphans_removed_goals_and_merges_whose_sources_went() -> None:
    log = Log()
    log.do("item", "create", "a", "r1", {"text": "Contact list", "goals": ["g1", "g9"],
                                         "due": "2027-01-31"})
    log.do("item", "create", "b", "r2", {"text": "Contact list too", "goals": ["g1"]})
    log.do("item", "create", "c", "r9", {"text": "From a room the event no longer lists"})
    log.do("role", "create", "x", "r9", {"actor": "Port", "role": "Lead"})
    # The moderator narrowed the joint action's goals to g1 (its sources carry g1 and g9).
    log.do("merge", "create", "m", None, {"text": "One list", "items": ["a", "b"],
                                          "rooms": ["r1", "r2"], "goals": ["g1"],
                                          "status": "agreed"})
    log.do("item", "create", "d", "r1", {"text": "Gone soon"})
    log.do("merge", "create", "n", None, {"text": "Joint, sources deleted", "items": ["d"],
                                          "rooms": ["r1"]})
    log.do("item", "delete", "d", "r1")
    log.do("vote", "create", "v1", None, {"item": "a", "voter": "p1"})
    log.do("vote", "create", "v2", None, {"item": "m", "voter": "p1"})  # same person: one
    log.do("vote", "create", "v3", None, {"item": "b", "voter": "p2"})

    o = build(log.board, datetime(2026, 11, 25, 10, tzinfo=UTC))
    assert [r.room.name for r in o.rooms] == ["Ports", "Citizens", "Room 3 (removed)"]
    assert [a.id for a in o.actions] == ["a", "b", "c"] and [r.id for r in o.roles] == ["x"]
    a = o.actions[0]
    assert a.ref == "R1.1" and a.due == date(2027, 1, 31) and a.merged_into == "M1"
    assert [g.text for g in a.goals] == ["Shared picture", "g9 (removed goal)"]
    m1, m2 = o.merges
    assert [s.ref for s in m1.sources] == ["R1.1", "R2.1"] and m1.votes == 2
    assert m1.status == "agreed" and [g.id for g in m1.goals] == ["g1"]  # its own goals
    assert m2.sources == () and m2.text == "Joint, sources deleted"
    # Alignment: the merge counts once in each of its rooms and once in the total.
    picture, exercises = o.alignment
    assert picture.per_room == (1, 1, 0) and picture.total == 1
    assert exercises.total == 0 and not exercises.addressed
    assert o.untagged == (1, 0, 1)
    for fmt in FORMATS:  # every format renders this board
        assert export(log.board, fmt).body


def test_file_names_are_ascii() -> None:
    log = Log()
    log.do("event", "update", "e1", None, {"title": "Beredskap på Vestlandet: مرحبا 🚢"})
    assert export(log.board, "roles.csv").filename.startswith("beredskap-pa-vestlandet-roles-")
    assert export(log.board, "xlsx").filename.endswith(".xlsx")


def test_reports_speak_the_events_language() -> None:
    log = Log()  # language "nb"
    log.do("item", "create", "a", "r1", {"text": "Felles kontaktliste", "status": "agreed"})
    md = export(log.board, "md").body.decode()
    assert md.startswith("# Resultater: Preparedness\n")
    assert "## Sammendrag" in md and "Status: Enige" in md
    assert "Tiltak: 1 (1 enige, 0 gjennomført) · Rollefordelinger: 0" in md
    page = export(log.board, "html").body.decode()
    assert '<html lang="nb">' in page and ">Sammendrag<" in page and ">Måldekning<" in page
    log.do("event", "update", "e1", None, {"language": "fr"})
    assert "## Synthèse" in export(log.board, "md").body.decode()
    # The CSV too, with ";" between fields as French spreadsheets expect.
    assert export(log.board, "csv").body.decode("utf-8-sig").startswith("réf;type;salle;action;")

"""The push table: what a change pushes to which view, and to whose sockets (its scope)."""

from __future__ import annotations

from facilitation import pushes
from facilitation.domain import EDITABLE, Board, Change
from facilitation.render import Renderer


def board() -> Board:
    event = {"id": "ev", "title": "Event", "language": "en", "goals": [], "version": 1,
             "rooms": [{"id": "a", "name": "Room A", "prompt": ""},
                       {"id": "b", "name": "Room B", "prompt": ""}]}
    made = Board("ev")
    made.apply(Change(1, None, "event.create", "event:ev", "2026-01-01T00:00:00Z", event))
    return made


def test_a_rooms_lock_reaches_that_rooms_page_only() -> None:
    renderer, now = Renderer(), board()
    lock = Change(2, None, "room.create", "room:a", "2026-01-01T00:00:01Z",
                  {"id": "a", "locked": True, "version": 1})
    now.apply(lock)
    own = renderer.frame(lock, now, "room:a")
    other = renderer.frame(lock, now, "room:b")
    assert own is not None and 'id="room-state"' in own and 'data-locked="true"' in own
    assert other is not None and "room-state" not in other
    # The seq marker still reaches every room: each page resumes from the right place.
    assert 'data-seq="2"' in other


def test_every_row_names_a_known_view_kind_and_scope() -> None:
    views = {pushes.ROOM_VIEW, pushes.PLENARY_VIEW, pushes.MODERATE_VIEW, pushes.OWNER_VIEW,
             pushes.FOLLOWUP_VIEW}
    for push in pushes.PUSHES:
        assert push.view in views
        assert set(push.kinds) <= set(EDITABLE)
        assert push.scope in (pushes.SCOPE_EVENT, pushes.SCOPE_ROOM, pushes.SCOPE_OWNER)

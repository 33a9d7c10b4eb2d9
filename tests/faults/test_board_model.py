"""A model of the board against a real server: Hypothesis drives random submits,
resends, edits (fresh and stale), deletes, socket disconnects and reconnects, and
server restarts, and every view is checked against the model.

The server is the real app on uvicorn, on loopback, in a thread of its own (so a
restart takes a fraction of a second and the machine can run many of them); the
clients are plain synchronous HTTP and websocket clients, as a script would use.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import ClientConnection, connect

from tests.conftest import ADMIN, SIX_ROOMS, Server, auth, free_port, make_settings

pytestmark = pytest.mark.slow
T = TypeVar("T")


class ThreadedServer:
    """The app served by uvicorn in its own event loop thread: start, stop, restart."""

    def __init__(self, data_dir: Path) -> None:
        self.server = Server(make_settings(data_dir, free_port()))
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.restarts = 0

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    def start(self) -> None:
        self.run(self.server.start())

    def restart(self) -> None:
        self.run(self.server.stop())
        self.run(self.server.start())
        self.restarts += 1

    def close(self) -> None:
        self.run(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


class SyncView:
    """A stream client: reconnects from its last seq; its board is the fold of its frames."""

    def __init__(self, server: Server, event_id: str, token: str, room: str | None) -> None:
        self.server, self.event_id, self.token, self.room = server, event_id, token, room
        self.ws: ClientConnection | None = None
        self._opened: Any = None  # the connect() context the socket lives in
        self.seqs: list[int] = []
        self.board: dict[str, dict[str, Any]] = {}

    @property
    def last(self) -> int:
        return self.seqs[-1] if self.seqs else 0

    def connect(self) -> None:
        url = f"{self.server.ws_url}/api/events/{self.event_id}/stream?after={self.last}"
        for _ in range(50):
            try:
                self._opened = connect(url, additional_headers=auth(self.token), open_timeout=5)
                self.ws = self._opened.__enter__()
                return
            except (OSError, InvalidHandshake):
                threading.Event().wait(0.05)  # the server is restarting
        raise AssertionError("could not reconnect")

    def disconnect(self) -> None:
        if self._opened is not None:
            self._opened.__exit__(None, None, None)
        self._opened = self.ws = None

    def catch_up(self, seq: int) -> None:
        while self.last < seq:
            if self.ws is None:
                self.connect()
            assert self.ws is not None
            try:
                frame = json.loads(self.ws.recv(timeout=10))
            except ConnectionClosed:
                self.disconnect()  # a restart closed it (1012): reconnect and go on
                continue
            assert frame["seq"] > self.last, "a frame came twice or out of order"
            self.seqs.append(frame["seq"])
            if frame["type"].startswith("item."):
                if frame["type"] == "item.deleted":
                    self.board.pop(frame["data"]["id"], None)
                else:
                    self.board[frame["data"]["id"]] = frame["data"]


texts = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30).filter(
    lambda t: bool(t.strip()))


class BoardMachine(RuleBasedStateMachine):
    server: ThreadedServer  # set by the test

    ids = Bundle("ids")

    @initialize()
    def new_event(self) -> None:
        base = self.server.server
        self.http = httpx.Client(base_url=base.url, timeout=20)
        answer = self.http.post("/api/events", json=SIX_ROOMS, headers=auth(ADMIN))
        assert answer.status_code == 201
        self.event = answer.json()
        self.rooms = self.event["rooms"][:2]
        self.model: dict[str, dict[str, Any]] = {}    # id -> {"text", "version", "room"}
        self.bodies: dict[str, dict[str, Any]] = {}   # id -> what was first sent
        self.changes: list[str | None] = [None]       # per seq: its room (seq 1: the event)
        self.views = [
            SyncView(base, self.event["id"], self.event["plenary_token"], None),
            SyncView(base, self.event["id"], self.event["plenary_token"], None),
            SyncView(base, self.event["id"], self.rooms[0]["join_token"], self.rooms[0]["id"]),
        ]
        for view in self.views:
            view.connect()

    def items_url(self, room: dict[str, Any]) -> str:
        return f"/api/events/{self.event['id']}/rooms/{room['id']}/items"

    def room_of(self, item_id: str) -> dict[str, Any]:
        return next(r for r in self.rooms if r["id"] == self.bodies[item_id]["room"])

    def call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request, repeated while the server restarts (as the page's outbox does)."""
        for _ in range(100):
            try:
                return self.http.request(method, url, **kwargs)
            except httpx.TransportError:
                threading.Event().wait(0.05)
        raise AssertionError("server unreachable")

    @rule(target=ids, text=texts, room=st.integers(0, 1))
    def submit(self, text: str, room: int) -> str:
        body = {"id": str(uuid.uuid4()), "text": text}
        answer = self.call("POST", self.items_url(self.rooms[room]), json=body,
                           headers=auth(self.rooms[room]["join_token"]))
        assert answer.status_code == 201, answer.text
        self.model[body["id"]] = {"text": text.strip(), "version": 1, "room": self.rooms[room]["id"]}
        self.bodies[body["id"]] = {**body, "room": self.rooms[room]["id"]}
        self.changes.append(self.rooms[room]["id"])
        return body["id"]

    @rule(item=ids)
    def resend(self, item: str) -> None:
        """The very same create again (a lost answer): acknowledged, stored once."""
        room = self.room_of(item)
        body = {k: v for k, v in self.bodies[item].items() if k != "room"}
        answer = self.call("POST", self.items_url(room), json=body, headers=auth(room["join_token"]))
        assert answer.status_code == 200, answer.text

    @rule(item=ids, text=texts)
    def edit(self, item: str, text: str) -> None:
        room = self.room_of(item)
        known = self.model.get(item)
        version = known["version"] if known else 1
        answer = self.call("PATCH", f"{self.items_url(room)}/{item}",
                           json={"version": version, "text": text},
                           headers=auth(room["join_token"]))
        if known is None:
            assert answer.status_code == 404
            return
        assert answer.status_code == 200, answer.text
        known.update(text=text.strip(), version=version + 1)
        self.changes.append(room["id"])
        # The same edit resent (its answer lost): the same version, stored once.
        again = self.call("PATCH", f"{self.items_url(room)}/{item}",
                          json={"version": version, "text": text},
                          headers=auth(room["join_token"]))
        assert again.status_code == 200 and again.json()["version"] == version + 1

    @rule(item=ids, text=texts)
    def stale_edit(self, item: str, text: str) -> None:
        known = self.model.get(item)
        if known is None or known["version"] < 2 or text.strip() == known["text"]:
            return
        room = self.room_of(item)
        answer = self.call("PATCH", f"{self.items_url(room)}/{item}",
                           json={"version": known["version"] - 1, "text": text + " (stale)"},
                           headers=auth(room["join_token"]))
        assert answer.status_code == 409
        current = answer.json()["error"]["current"]
        assert (current["text"], current["version"]) == (known["text"], known["version"])

    @rule(item=ids)
    def delete(self, item: str) -> None:
        room = self.room_of(item)
        answer = self.call("DELETE", f"{self.items_url(room)}/{item}",
                           headers=auth(room["join_token"]))
        assert answer.status_code == 204
        if self.model.pop(item, None) is not None:
            self.changes.append(room["id"])

    @rule(n=st.integers(0, 2))
    def disconnect(self, n: int) -> None:
        self.views[n].disconnect()

    @rule(n=st.integers(0, 2))
    def reconnect(self, n: int) -> None:
        if self.views[n].ws is None:
            self.views[n].connect()

    @rule()
    def restart(self) -> None:
        self.server.restart()

    @rule()
    def check_views(self) -> None:
        final = len(self.changes)
        for view in self.views:
            if view.room is None:
                target = final
            else:
                target = max(seq for seq, room in enumerate(self.changes, 1)
                             if room in (None, view.room))
            view.catch_up(target)
            expected = {i: m for i, m in self.model.items() if view.room in (None, m["room"])}
            assert set(view.board) == set(expected)
            for item_id, item in view.board.items():
                assert (item["text"], item["version"]) == (
                    expected[item_id]["text"], expected[item_id]["version"])
            if view.room is None:
                assert view.seqs == list(range(1, final + 1))  # every change once, in order

    @invariant()
    def store_matches_the_model(self) -> None:
        if not hasattr(self, "event"):
            return
        for room in self.rooms:
            answer = self.call("GET", f"/api/events/{self.event['id']}/rooms/{room['id']}",
                               headers=auth(room["join_token"]))
            stored = {i["id"]: (i["text"], i["version"]) for i in answer.json()["items"]}
            assert stored == {i: (m["text"], m["version"])
                              for i, m in self.model.items() if m["room"] == room["id"]}

    def teardown(self) -> None:
        if hasattr(self, "event"):
            self.check_views()
            for view in self.views:
                view.disconnect()
            self.http.close()


@pytest.fixture
def threaded_server(tmp_path: Path) -> Iterator[ThreadedServer]:
    server = ThreadedServer(tmp_path)
    server.start()
    yield server
    server.close()


def test_every_view_follows_the_model_through_disconnects_and_restarts(
    threaded_server: ThreadedServer,
) -> None:
    BoardMachine.server = threaded_server
    run_state_machine_as_test(BoardMachine, settings=settings(
        max_examples=12, stateful_step_count=18, deadline=None, database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
    assert threaded_server.restarts > 0  # the runs did include restarts

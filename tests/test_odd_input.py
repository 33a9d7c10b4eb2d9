"""Odd input through the pages' forms and the sockets' query: a clear 4xx, never a 5xx.

The JSON API is fuzzed from its OpenAPI document (test_openapi.py); the pages' forms
and the sockets' query parameters are not in that document, so Hypothesis drives them
here, against the real app on uvicorn (in a thread of its own, so that the tests can
stay synchronous for Hypothesis). The named cases first: each was a 500 once.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.conftest import ADMIN, Server, auth, free_port, make_settings

ODD_NUMBERS = ["²", "٣", "¹⁰", "1" * 23, "-1", "1e300", "inf", "nan", "0x10", " 7", "7 ", "1_000",
               "", "0", "३"]


class Running:
    """The app on uvicorn in a thread; an event with two rooms; a named participant and
    the organiser, each with their own browser session."""

    def __init__(self, data_dir: Path) -> None:
        self.server = Server(make_settings(data_dir, free_port(), write_rate_per_minute=10_000_000,
                                           token_writes_per_second=100_000))
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.run(self.server.start())
        self.url = self.server.url
        self.api = httpx.Client(base_url=self.url, timeout=30)
        self.event = self.api.post("/api/events", headers=auth(ADMIN), json={
            "title": "Odd input", "rooms": [{"name": "A"}, {"name": "B"}],
            "goals": ["Goal one"]}).json()
        self.room = self.event["rooms"][0]
        self.base = f"/e/{self.event['id']}"
        self.person = self.browser(self.room["join_url"])
        assert self.person.post(f"{self.base}/r/{self.room['id']}/name",
                                data={"name": "Kari", "org": ""}).status_code == 303
        self.organiser = self.browser(self.event["moderator_url"])
        self.item = str(uuid.uuid4())
        answer = self.api.post(f"/api/events/{self.event['id']}/rooms/{self.room['id']}/items",
                               headers=auth(self.room["join_token"]),
                               json={"id": self.item, "text": "Contact list", "owner": "NVE"})
        assert answer.status_code == 201
        # The follow-up owner's page (after the event): its report form is a page form too.
        opened = self.api.post(f"/api/events/{self.event['id']}/follow-up", json={},
                               headers=auth(self.event["organiser_token"]))
        assert opened.status_code == 200, opened.text
        owner_url = opened.json()["owners"][0]["url"]
        self.owner = self.browser(owner_url)
        self.owner_base = httpx.URL(owner_url).path

    def browser(self, link: str) -> httpx.Client:
        client = httpx.Client(base_url=self.url, timeout=30, headers={"origin": self.url})
        assert client.get(link).status_code == 303
        return client

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    def close(self) -> None:
        for client in (self.api, self.person, self.organiser, self.owner):
            client.close()
        self.run(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def socket_status(self, path: str, client: httpx.Client) -> int:
        """The handshake's answer: 101 when accepted, else the HTTP status it was denied with."""
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
        try:
            with connect(self.server.ws_url + path, origin=self.url,  # type: ignore[arg-type]
                         additional_headers={"Cookie": cookie}, open_timeout=20, close_timeout=0.5):
                return 101
        except InvalidStatus as refused:
            return int(refused.response.status_code)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    running = Running(tmp_path_factory.mktemp("odd"))
    yield running
    running.close()


def room(app: Running) -> str:
    return f"{app.base}/r/{app.room['id']}"


def version_of(app: Running) -> int:
    answer = app.api.get(f"/api/events/{app.event['id']}/rooms/{app.room['id']}",
                         headers=auth(app.event["organiser_token"]))
    return int(next(i for i in answer.json()["items"] if i["id"] == app.item)["version"])


# -- the named cases -------------------------------------------------------------------------


def test_the_change_name_link_and_a_bad_name_show_the_form(app: Running) -> None:
    again = app.person.get(f"{room(app)}?rename=1")
    assert again.status_code == 200 and 'name="name"' in again.text and 'value="Kari"' in again.text
    for bad in ("", "   ", "x" * 201):
        answer = app.person.post(f"{room(app)}/name", data={"name": bad, "org": ""})
        assert answer.status_code == 422, bad
        assert "at most 200 characters" in answer.text


@pytest.mark.parametrize("after", ["²", "٣", "1" * 23, "-1", "1e3"])
def test_a_socket_with_an_odd_after_is_refused_with_400(app: Running, after: str) -> None:
    for path, client in ((f"{room(app)}/live", app.person),
                         (f"{app.base}/moderate/live", app.organiser),
                         (f"{app.base}/plenary/live", app.organiser)):
        assert app.socket_status(f"{path}?after={after}", client) == 400, path
    stream = f"/api/events/{app.event['id']}/stream?after={after}"
    with pytest.raises(InvalidStatus) as refused:
        connect(app.server.ws_url + stream, open_timeout=20,
                additional_headers=auth(app.event["organiser_token"]))
    assert refused.value.response.status_code == 400


@pytest.mark.parametrize("version", ["²", "1" * 23, "-1", "1.0", "٣"])
def test_an_odd_version_in_the_edit_form_is_a_422(app: Running, version: str) -> None:
    answer = app.person.post(f"{room(app)}/items/{app.item}",
                             data={"version": version, "text": "Contact list", "edit": "1"})
    assert answer.status_code == 422


@pytest.mark.parametrize("due", ["9999-12-31", "0001-01-01", "1999-12-31", "2101-01-01"])
def test_due_dates_outside_2000_to_2100_are_refused_everywhere(app: Running, due: str) -> None:
    api = f"/api/events/{app.event['id']}/rooms/{app.room['id']}/items"
    token = auth(app.room["join_token"])
    created = app.api.post(api, headers=token, json={"id": str(uuid.uuid4()), "text": "x", "due": due})
    assert created.status_code == 422 and "due" in created.json()["error"]["message"]
    patched = app.api.patch(f"{api}/{app.item}", headers=token,
                            json={"version": version_of(app), "due": due})
    assert patched.status_code == 422
    form = app.person.post(f"{room(app)}/items", data={"id": str(uuid.uuid4()), "text": "x", "due": due})
    assert form.status_code == 422
    for edge in ("2000-01-01", "2100-12-31"):
        ok = app.api.post(api, headers=token, json={"id": str(uuid.uuid4()), "text": "x", "due": edge})
        assert ok.status_code == 201


@pytest.mark.parametrize("value", ["²", "٣", "1" * 23, "0", "21", "-1", "3.5"])
def test_an_odd_votes_per_person_is_a_422(app: Running, value: str) -> None:
    answer = app.organiser.post(f"{app.base}/moderate/plenary", data={"votes_per_person": value})
    assert answer.status_code == 422


@pytest.mark.parametrize("minutes", ["inf", "1e300", "nan", "-5", "0", "٥", "1441", "5e1", "", "²"])
def test_an_odd_countdown_is_a_422(app: Running, minutes: str) -> None:
    answer = app.organiser.post(f"{app.base}/moderate/timer", data={"minutes": minutes})
    assert answer.status_code == 422
    assert app.organiser.post(f"{app.base}/moderate/timer", data={"minutes": "2,5"}).status_code == 303


# -- Hypothesis: every form field and socket parameter, anything at all ----------------------

ANY = st.one_of(st.sampled_from(ODD_NUMBERS), st.text(max_size=40),
                st.text(min_size=1990, max_size=2010, alphabet="ab ²\u2028"),
                st.from_regex(r"-?[0-9]{1,25}(\.[0-9]+)?(e[0-9]+)?", fullmatch=True))
FIELDS = st.dictionaries(st.sampled_from([
    "id", "text", "owner", "due", "goals", "status", "version", "edit", "actor", "role",
    "responsibility", "name", "org", "item", "give", "view", "spotlight", "sort", "voting",
    "votes_per_person", "minutes", "label", "stop", "clear", "room", "locked", "items",
    "goal", "title", "room_id", "room_name", "room_prompt", "goal_id", "goal_text",
    "admin_token", "rooms", "language", "progress", "note", "same"]), ANY, max_size=8)
FORMS = ["/r/{room}/name", "/r/{room}/items", "/r/{room}/items/{item}", "/r/{room}/roles",
         "/r/{room}/items/{item}/delete", "/r/{room}/votes", "/moderate/plenary",
         "/moderate/timer", "/moderate/message", "/moderate/lock", "/moderate/merges",
         "/moderate/items/{item}", "/moderate/event", "/moderate/merges/{item}/status",
         "{owner}/progress/{item}"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(form=st.sampled_from(FORMS), fields=FIELDS, htmx=st.booleans())
def test_no_page_form_answers_5xx(app: Running, form: str, fields: dict[str, str], htmx: bool) -> None:
    if form.startswith("{owner}"):
        path, client, after = form.format(owner=app.owner_base, item=app.item), app.owner, app.owner_base
    elif form.startswith("/moderate"):
        path, client, after = app.base + form.format(item=app.item), app.organiser, f"{app.base}/moderate"
    else:
        path = app.base + form.format(room=app.room["id"], item=app.item)
        client, after = app.person, room(app)
    headers = {"HX-Request": "true"} if htmx else {}
    answer = client.post(path, data=fields, headers=headers)
    assert answer.status_code < 500, (path, fields, answer.text[:300])
    # What the form stored (if anything) renders.
    page = client.get(after)
    assert page.status_code < 500, (path, fields, page.text[:300])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(path=st.sampled_from(["/r/{room}/live", "/moderate/live", "/plenary/live", "/api/stream"]),
       query=st.dictionaries(st.sampled_from(["after", "epoch", "lang", "t", "view"]), ANY, max_size=3))
def test_no_socket_query_answers_5xx(app: Running, path: str, query: dict[str, str]) -> None:
    target = (f"/api/events/{app.event['id']}/stream" if path == "/api/stream"
              else app.base + path.format(room=app.room["id"]))
    url = target + "?" + str(httpx.QueryParams(query))
    if path == "/api/stream":
        try:
            with connect(app.server.ws_url + url, open_timeout=20, close_timeout=0.5,
                         additional_headers=auth(app.event["organiser_token"])):
                status = 101
        except InvalidStatus as refused:
            status = refused.response.status_code
    else:
        status = app.socket_status(url, app.organiser if "/r/" not in path else app.person)
    assert status == 101 or 400 <= status < 500, (url, status)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(query=st.dictionaries(st.sampled_from(["rename", "t", "after", "lang", "sort"]), ANY,
                             max_size=3))
def test_no_page_query_answers_5xx(app: Running, query: dict[str, str]) -> None:
    for path, client in ((room(app), app.person), (f"{app.base}/moderate", app.organiser),
                         (f"{app.base}/plenary", app.organiser),
                         (f"{app.base}/moderate/live", app.organiser)):
        answer = client.get(path, params=query)
        assert answer.status_code < 500, (path, query, answer.text[:300])

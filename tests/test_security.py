"""Access control against a running server: rooms, roles, origins and token rotation."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import ADMIN, Server, auth, item_body, new_event
from tests.test_redis import pair  # noqa: F401 - the two-server fixture (Redis)
from tests.test_room_page import join, room_path


def cookie_of(browser: httpx.AsyncClient) -> str:
    return "; ".join(f"{k}={v}" for k, v in browser.cookies.items())


async def refused_status(url: str, headers: dict[str, str]) -> int:
    try:
        async with connect(url, additional_headers=headers):
            raise AssertionError(f"accepted: {url} {headers}")
    except websockets.InvalidStatus as refused:
        return refused.response.status_code


async def closed_with(ws: ClientConnection, wait: float = 5) -> int:
    """Read until the server closes the socket; its close code."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), wait)
    except websockets.ConnectionClosed as closed:
        assert closed.rcvd is not None, "closed without a close frame"
        return closed.rcvd.code


async def snapshot(client: httpx.AsyncClient, event: dict[str, Any]) -> list[Any]:
    """Everything a room holds, read with the organiser token."""
    rooms = []
    for room in event["rooms"]:
        answer = await client.get(f"/api/events/{event['id']}/rooms/{room['id']}",
                                  headers=auth(event["organiser_token"]))
        rooms.append(answer.json())
    return rooms


async def test_room_a_token_against_room_b_reads_and_stores_nothing(
    server: Server, client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    a, b = event["rooms"][0], event["rooms"][1]
    api_b = f"/api/events/{event['id']}/rooms/{b['id']}"
    mine = (await client.post(f"{api_b}/items", json=item_body("B's own item"),
                              headers=auth(b["join_token"]))).json()
    role = (await client.post(f"{api_b}/roles", json={"id": item_body()["id"], "actor": "B",
                              "role": "Lead"}, headers=auth(b["join_token"]))).json()
    before = await snapshot(client, event)
    token_a = auth(a["join_token"])
    answers = [
        await client.get(api_b, headers=token_a),
        await client.post(f"{api_b}/items", json=item_body("from A"), headers=token_a),
        await client.patch(f"{api_b}/items/{mine['id']}", json={"version": 1, "text": "A was here"},
                           headers=token_a),
        await client.delete(f"{api_b}/items/{mine['id']}", headers=token_a),
        await client.post(f"{api_b}/roles", json={"id": item_body()["id"], "actor": "A",
                          "role": "x"}, headers=token_a),
        await client.patch(f"{api_b}/roles/{role['id']}", json={"version": 1, "role": "A"},
                           headers=token_a),
        await client.delete(f"{api_b}/roles/{role['id']}", headers=token_a),
        await client.post(f"{api_b}/token", headers=token_a),
        await client.post(f"/api/events/{event['id']}/plenary/token", headers=token_a),
    ]
    for answer in answers:
        assert answer.status_code == 403, (answer.request.method, answer.request.url, answer.text)
        body = answer.json()["error"]
        assert body["code"] == "forbidden"
        assert "B's own item" not in answer.text
    # The event as room A sees it carries no other room's token.
    seen = (await client.get(f"/api/events/{event['id']}", headers=token_a)).json()
    assert b["join_token"] not in json.dumps(seen)
    # Through the browser: room A's session opens neither room B's page, forms nor socket.
    browser = await join(server, a)
    page_b = room_path(event, b)
    assert (await browser.get(page_b)).status_code == 403
    posted = await browser.post(f"{page_b}/items", data={"id": item_body()["id"], "text": "x"})
    assert posted.status_code == 403 and "text/html" in posted.headers["content-type"]
    edited = await browser.post(f"{page_b}/items/{mine['id']}", data={"version": "1",
                                "status": "done"})
    assert edited.status_code == 403
    assert (await browser.post(f"{page_b}/items/{mine['id']}/delete")).status_code == 403
    socket = f"{server.ws_url}{page_b}/live?after=0"
    assert await refused_status(socket, {"cookie": cookie_of(browser), "origin": server.url}) == 403
    # A's join stream sees none of B's changes.
    async with connect(f"{server.ws_url}/api/events/{event['id']}/stream?after=0",
                       additional_headers=token_a) as ws:
        frames = []
        try:
            while True:
                frames.append(json.loads(await asyncio.wait_for(ws.recv(), 0.5)))
        except TimeoutError:
            pass
    assert all(f["room"] in (None, a["id"]) for f in frames)
    assert "B's own item" not in json.dumps(frames)
    assert await snapshot(client, event) == before
    await browser.aclose()


async def test_roles_and_events_are_enforced_on_every_row(
    client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    other = await new_event(client)
    room = event["rooms"][0]
    api = f"/api/events/{event['id']}"
    before = await snapshot(client, event)
    plenary, foreign = auth(event["plenary_token"]), auth(other["organiser_token"])
    # The plenary token reads everything and changes nothing.
    assert (await client.get(f"{api}/rooms/{room['id']}", headers=plenary)).status_code == 200
    for method, path, body in (
        ("POST", f"{api}/rooms/{room['id']}/items", item_body()),
        ("POST", f"{api}/rooms/{room['id']}/token", None),
        ("POST", f"{api}/plenary/token", None),
    ):
        answer = await client.request(method, path, json=body, headers=plenary)
        assert answer.status_code == 403, (path, answer.text)
    # Another event's organiser token is not a token of this event at all.
    for method, path, body in (
        ("GET", api, None),
        ("GET", f"{api}/rooms/{room['id']}", None),
        ("POST", f"{api}/rooms/{room['id']}/items", item_body()),
        ("POST", f"{api}/rooms/{room['id']}/token", None),
    ):
        answer = await client.request(method, path, json=body, headers=foreign)
        assert answer.status_code == 401, (path, answer.text)
        assert answer.json()["error"]["code"] == "unauthorized"
    # Only the admin token creates events; an organiser token is not one.
    made = await client.post("/api/events", json={"title": "T", "rooms": [{"name": "A"}]},
                             headers=auth(event["organiser_token"]))
    assert made.status_code == 401
    # A room of another event is unknown here (404), even to the organiser.
    elsewhere = f"{api}/rooms/{other['rooms'][0]['id']}"
    assert (await client.post(f"{elsewhere}/token",
                              headers=auth(event["organiser_token"]))).status_code == 404
    assert await snapshot(client, event) == before


async def test_cross_site_socket_is_refused_and_own_origin_accepted(
    server: Server, event: dict[str, Any]
) -> None:
    room = event["rooms"][2]
    browser = await join(server, room)
    page_socket = f"{server.ws_url}{room_path(event, room)}/live?after=0"
    stream = f"{server.ws_url}/api/events/{event['id']}/stream?after=0"
    cookie = cookie_of(browser)
    for url in (page_socket, stream):
        evil = await refused_status(url, {"cookie": cookie, "origin": "https://evil.example"})
        assert evil == 403
        # Same token, the app's own origin: accepted.
        async with connect(url, additional_headers={"cookie": cookie, "origin": server.url}):
            pass
        # No Origin (not a browser): only with a bearer token, never with the cookie alone.
        assert await refused_status(url, {"cookie": cookie}) == 401
        async with connect(url, additional_headers=auth(room["join_token"])):
            pass
        # A bearer token does not make another site's page acceptable.
        assert await refused_status(url, {**auth(room["join_token"]),
                                          "origin": "http://localhost.evil.example"}) == 403
    await browser.aclose()


async def test_allowed_origins_setting_admits_another_origin(
    tmp_root: Any, event: dict[str, Any]
) -> None:
    from tests.conftest import free_port, make_settings

    port = free_port()
    extra = Server(make_settings(tmp_root / f"origins-{port}", port,
                                 allowed_origins=("https://board.example.org",)))
    await extra.start()
    try:
        async with httpx.AsyncClient(base_url=extra.url) as http:
            made = await new_event(http)
        stream = f"{extra.ws_url}/api/events/{made['id']}/stream?after=0"
        token = auth(made["plenary_token"])
        async with connect(stream, additional_headers={**token,
                                                       "origin": "https://board.example.org"}):
            pass
        assert await refused_status(stream, {**token, "origin": "https://other.example.org"}) == 403
    finally:
        await extra.stop()


async def test_rotating_a_join_token_ends_the_old_one_everywhere_at_once(
    server: Server, client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    room, neighbour = event["rooms"][3], event["rooms"][4]
    old = room["join_token"]
    browser = await join(server, room)
    cookie = {"cookie": cookie_of(browser), "origin": server.url}
    page = f"{server.ws_url}{room_path(event, room)}/live?after=0"
    stream = f"{server.ws_url}/api/events/{event['id']}/stream?after=0"
    page_ws = await connect(page, additional_headers=cookie)
    bearer_ws = await connect(stream, additional_headers=auth(old))
    neighbour_ws = await connect(stream, additional_headers=auth(neighbour["join_token"]))
    organiser_ws = await connect(stream, additional_headers=auth(event["organiser_token"]))
    # Only the organiser may rotate.
    assert (await client.post(f"/api/events/{event['id']}/rooms/{room['id']}/token",
                              headers=auth(old))).status_code == 403
    rotated = await client.post(f"/api/events/{event['id']}/rooms/{room['id']}/token",
                                headers=auth(event["organiser_token"]))
    assert rotated.status_code == 200, rotated.text
    fresh = next(r for r in rotated.json()["rooms"] if r["id"] == room["id"])
    new = fresh["join_token"]
    assert new != old and len(new) >= 22 and fresh["join_url"].endswith(new)
    assert "access" not in rotated.text or new not in json.dumps(rotated.json().get("access"))
    # Open sockets opened with the old token are closed; the others stay.
    assert await closed_with(page_ws) == 4401
    assert await closed_with(bearer_ws) == 4401
    api = f"/api/events/{event['id']}/rooms/{room['id']}"
    # The old token, by bearer or by the session it set, opens nothing any more.
    assert (await client.get(api, headers=auth(old))).status_code == 401
    assert (await client.post(f"{api}/items", json=item_body("late"),
                              headers=auth(old))).status_code == 401
    assert (await browser.get(room_path(event, room))).status_code == 401
    assert await refused_status(page, cookie) == 401
    assert await refused_status(stream, auth(old)) == 401
    opened = await browser.get(room["join_url"])
    assert opened.status_code == 401 and "text/html" in opened.headers["content-type"]
    # The new one works, and the neighbour and the organiser were not disturbed.
    made = await client.post(f"{api}/items", json=item_body("after rotation"), headers=auth(new))
    assert made.status_code == 201
    await client.post(f"/api/events/{event['id']}/rooms/{neighbour['id']}/items",
                      json=item_body("next door"), headers=auth(neighbour["join_token"]))
    for ws in (neighbour_ws, organiser_ws):
        frames = []
        while not any(f["type"] == "item.created" for f in frames):
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
        # The log says a token changed, never which token.
        assert all(new not in json.dumps(f) and old not in json.dumps(f) for f in frames)
        await ws.close()
    assert "late" not in json.dumps(await snapshot(client, event))
    await browser.aclose()


async def test_rotating_the_plenary_token(
    server: Server, client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    old = event["plenary_token"]
    stream = f"{server.ws_url}/api/events/{event['id']}/stream?after=0"
    plenary_ws = await connect(stream, additional_headers=auth(old))
    room_ws = await connect(stream, additional_headers=auth(event["rooms"][0]["join_token"]))
    rotated = await client.post(f"/api/events/{event['id']}/plenary/token",
                                headers=auth(event["organiser_token"]))
    assert rotated.status_code == 200
    new = rotated.json()["plenary_token"]
    assert new != old and rotated.json()["plenary_url"].endswith(new)
    assert await closed_with(plenary_ws) == 4401
    assert (await client.get(f"/api/events/{event['id']}", headers=auth(old))).status_code == 401
    assert (await client.get(f"/api/events/{event['id']}", headers=auth(new))).status_code == 200
    async with connect(stream, additional_headers=auth(new)):
        pass
    # A room's socket is not the plenary's: it stays open.
    await client.post(f"/api/events/{event['id']}/rooms/{event['rooms'][0]['id']}/items",
                      json=item_body(), headers=auth(event["rooms"][0]["join_token"]))
    frames = []
    while not any(f["type"] == "item.created" for f in frames):
        frames.append(json.loads(await asyncio.wait_for(room_ws.recv(), 5)))
    await room_ws.close()


async def test_admin_token_is_needed_and_compared_whole(client: httpx.AsyncClient) -> None:
    body = {"title": "T", "rooms": [{"name": "A"}]}
    for token in (ADMIN[:-1], ADMIN + "x", ADMIN.upper(), "x"):
        answer = await client.post("/api/events", json=body, headers=auth(token))
        assert answer.status_code == 401, token


async def test_the_moderator_page_form_replaces_a_link(
    server: Server, client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    room = event["rooms"][5]
    organiser = httpx.AsyncClient(base_url=server.url, headers={"origin": server.url})
    opened = await organiser.get(event["moderator_url"])
    assert opened.status_code == 303
    page = await organiser.get(opened.headers["location"])
    assert page.status_code == 200 and 'id="access-links"' in page.text
    assert room["join_token"] in page.text  # the organiser's own page lists every link
    participant = await join(server, room)
    path = f"/e/{event['id']}/links/rooms/{room['id']}"
    # Another site cannot make the organiser's browser replace a link.
    forged = await organiser.post(path, headers={"origin": "https://evil.example"})
    assert forged.status_code == 403
    # A participant's session cannot either.
    assert (await participant.post(path)).status_code == 403
    assert (await client.get(f"/api/events/{event['id']}/rooms/{room['id']}",
                             headers=auth(room["join_token"]))).status_code == 200
    done = await organiser.post(path, headers={"hx-request": "true"})
    assert done.status_code == 200
    assert 'id="access-links"' in done.text and room["name"] in done.text
    assert "The old one no longer works" in done.text
    assert room["join_token"] not in done.text  # the old link is gone from the list
    assert (await client.get(f"/api/events/{event['id']}/rooms/{room['id']}",
                             headers=auth(room["join_token"]))).status_code == 401
    assert (await participant.get(room_path(event, room))).status_code == 401
    # The organiser keeps its own access; without htmx the form redirects back.
    plain = await organiser.post(f"/e/{event['id']}/links/plenary")
    assert plain.status_code == 303 and plain.headers["location"].endswith("/moderate")
    assert (await client.get(f"/api/events/{event['id']}",
                             headers=auth(event["plenary_token"]))).status_code == 401
    await organiser.aclose()
    await participant.aclose()


async def test_cookie_writes_from_another_site_are_refused_on_every_path(
    server: Server, client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    room = event["rooms"][0]
    browser = await join(server, room)
    before = await snapshot(client, event)
    api = f"/api/events/{event['id']}/rooms/{room['id']}/items"
    # The session cookie would authorise these; another site's page cannot use it.
    for headers in ({"origin": "https://evil.example"}, {"origin": "null"},
                    {"origin": "", "referer": "https://evil.example/page"}):
        forged = await browser.post(api, json=item_body("forged"), headers=headers)
        assert forged.status_code == 403, headers
        assert forged.json()["error"]["code"] == "forbidden"
        page = await browser.post(f"{room_path(event, room)}/items", headers=headers,
                                  data={"id": item_body()["id"], "text": "forged"})
        assert page.status_code == 403 and "text/html" in page.headers["content-type"]
    assert await snapshot(client, event) == before
    # From our own pages the same cookie works (the API too, for a script of ours).
    own = await browser.post(api, json=item_body("mine"))
    assert own.status_code == 201
    # Without any session there is nothing to forge: the contract's 401.
    async with httpx.AsyncClient(base_url=server.url) as stranger:
        assert (await stranger.post(api, json=item_body())).status_code == 401
    await browser.aclose()


async def test_error_pages_are_friendly_html_and_api_errors_json(
    server: Server, client: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    room = event["rooms"][0]
    for method, path, status in (
        ("GET", "/no/such/page", 404),
        ("GET", f"/e/{event['id']}/r/{room['id']}/name", 405),
        ("DELETE", f"/e/{event['id']}/r/{room['id']}", 405),
        ("GET", f"/e/{event['id']}/r/nope", 401),
        ("GET", f"/e/nope/r/{room['id']}", 404),
    ):
        answer = await client.request(method, path, headers={"accept": "text/html"})
        assert answer.status_code == status, (method, path, answer.status_code)
        assert answer.headers["content-type"].startswith("text/html"), path
        assert "<main" in answer.text and "error-page" in answer.text
        assert "Traceback" not in answer.text
        assert "script-src 'self'" in answer.headers["content-security-policy"]
    for method, path, status in (("GET", "/api/nothing", 404), ("PUT", "/api/events", 405),
                                 ("GET", f"/api/events/{event['id']}", 401)):
        answer = await client.request(method, path)
        assert answer.status_code == status
        body = answer.json()["error"]
        assert body["code"] and body["message"]


async def test_an_unexpected_failure_is_a_friendly_500(server: Server) -> None:
    """The handler Starlette calls for any exception, on the running app's own renderer."""
    from starlette.requests import Request

    from facilitation.app import server_error

    assert server.server is not None
    app = server.server.config.app
    for path, kind in (("/e/x/r/y", "text/html"), ("/api/events/x", "application/json")):
        scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(),
                 "query_string": b"", "headers": [], "app": app, "scheme": "http",
                 "server": ("127.0.0.1", 80), "root_path": ""}
        response = await server_error(Request(scope), RuntimeError("boom with a secret"))
        assert response is not None and response.status_code == 500
        assert response.headers["content-type"].startswith(kind)
        assert b"boom" not in response.body and b"Traceback" not in response.body
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


async def test_security_headers_on_pages_api_and_static(
    server: Server, client: httpx.AsyncClient
) -> None:
    for path in ("/", "/healthz", "/api/openapi.json", "/static/app.js", "/nope"):
        answer = await client.get(path)
        headers = answer.headers
        policy = headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy.split(
            "script-src")[1].split(";")[0] and "unsafe-eval" not in policy, path
        assert "frame-ancestors 'none'" in policy
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] in ("same-origin", "no-referrer")
    base = (await client.get("/")).text
    config = re.search(r'name="htmx-config" content=\'([^\']+)\'', base)
    assert config is not None
    htmx = json.loads(config.group(1))
    assert htmx["allowEval"] is False and htmx["allowScriptTags"] is False
    assert htmx["selfRequestsOnly"] is True
    assert "<script>" not in base  # every script has a src: nothing inline


async def test_token_links_set_a_secure_cookie_behind_https(tmp_root: Any) -> None:
    from tests.conftest import free_port, make_settings

    port = free_port()
    secure = Server(make_settings(tmp_root / f"https-{port}", port, cookie_secure=True))
    await secure.start()
    try:
        async with httpx.AsyncClient(base_url=secure.url) as http:
            made = await new_event(http)
            opened = await http.get(made["rooms"][0]["join_url"])
        assert opened.status_code == 303 and "t=" not in opened.headers["location"]
        cookie = opened.headers["set-cookie"].lower()
        assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    finally:
        await secure.stop()


async def test_no_page_carries_a_stronger_token_than_its_own(
    server: Server, event: dict[str, Any]
) -> None:
    organiser = event["organiser_token"]
    for page, token in (("plenary", event["plenary_token"]),
                        (f"r/{event['rooms'][0]['id']}", event["rooms"][0]["join_token"])):
        async with httpx.AsyncClient(base_url=server.url, headers={"origin": server.url}) as b:
            opened = await b.get(f"/e/{event['id']}/{page}?t={token}")
            assert opened.status_code == 303
            shown = await b.get(opened.headers["location"])
            if page.startswith("r/"):
                await b.post(f"{opened.headers['location']}/name", data={"name": "Kari"})
                shown = await b.get(opened.headers["location"])
            assert shown.status_code == 200
            assert organiser not in shown.text
            if page == "plenary":
                assert event["plenary_token"] not in shown.text
            else:
                assert event["plenary_token"] not in shown.text and token not in shown.text


def test_tokens_never_reach_the_logs() -> None:
    import logging

    from facilitation.cli import RedactTokens

    secret = "AbCdEfGhIjKlMnOpQrStUvWxYz012345"
    records = [
        ('%s - "%s %s HTTP/%s" %d', ("127.0.0.1:5", "GET", f"/e/x/r/y?t={secret}", "1.1", 303)),
        ('%s - "WebSocket %s" [accepted]', ("127.0.0.1:5", f"/e/x/r/y/live?after=3&t={secret}")),
        ('%s - "WebSocket %s" %d', ("127.0.0.1:5", f"/e/x/plenary?t={secret}&after=1", 401)),
        # Starlette decodes the name: %74 is "t", and the link opens; so is its redaction.
        ('%s - "%s %s HTTP/%s" %d', ("127.0.0.1:5", "GET", f"/e/x/r/y?%74={secret}", "1.1", 303)),
        ('%s - "%s %s HTTP/%s" %d', ("127.0.0.1:5", "GET", f"/e/x/r/y?a=1&%74={secret}&t=2",
                                      "1.1", 303)),
    ]
    for message, args in records:
        record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, message, args,
                                   None)
        assert RedactTokens().filter(record)
        assert secret not in record.getMessage(), record.getMessage()


async def test_a_refused_handshake_is_not_logged_as_a_server_error(
    server: Server, event: dict[str, Any], caplog: Any
) -> None:
    import logging

    stream = f"{server.ws_url}/api/events/{event['id']}/stream?after=0"
    with caplog.at_level(logging.INFO, logger="uvicorn.error"):
        assert await refused_status(stream, auth("not-a-token")) == 401
        assert await refused_status(stream, {"origin": "https://evil.example"}) == 403
        await asyncio.sleep(0.05)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]


async def test_rotation_on_one_server_closes_the_old_tokens_sockets_on_the_other(
    pair: tuple[Server, Server],  # noqa: F811
) -> None:
    """Two workers sharing Redis: the rotation travels through the log like any change."""
    a, b = pair
    async with httpx.AsyncClient(base_url=a.url, timeout=20) as ca, \
            httpx.AsyncClient(base_url=b.url, timeout=20) as cb:
        event = await new_event(ca)
        room = event["rooms"][0]
        browser = await join(b, room)
        on_b = await connect(f"{b.ws_url}{room_path(event, room)}/live?after=1",
                             additional_headers={"cookie": cookie_of(browser), "origin": b.url})
        api_on_b = await connect(f"{b.ws_url}/api/events/{event['id']}/stream?after=1",
                                 additional_headers=auth(room["join_token"]))
        rotated = await ca.post(f"/api/events/{event['id']}/rooms/{room['id']}/token",
                                headers=auth(event["organiser_token"]))
        assert rotated.status_code == 200
        assert await closed_with(on_b) == 4401
        assert await closed_with(api_on_b) == 4401
        path = f"/api/events/{event['id']}/rooms/{room['id']}"
        assert (await cb.get(path, headers=auth(room["join_token"]))).status_code == 401
        new = next(r["join_token"] for r in rotated.json()["rooms"] if r["id"] == room["id"])
        assert (await cb.get(path, headers=auth(new))).status_code == 200
        await browser.aclose()

"""A full disk is a 503 "nothing was saved" on every path, JSON or page, never a 500.

SQLite's own "database or disk is full" (SQLITE_FULL) is produced for real with
``PRAGMA max_page_count`` on the server's writing connection: the next write that
needs a page fails exactly as it does on a full disk. Then the limit is lifted and
the same requests succeed.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN, Server, auth, free_port, make_settings


@pytest.fixture
async def full_server(tmp_path: Path) -> AsyncIterator[Server]:
    if __import__("os").environ.get("TEST_BACKEND") == "redis":
        pytest.skip("the embedded store's disk")
    port = free_port()
    running = await Server(make_settings(tmp_path / "data", port)).start()
    yield running
    await running.stop()


async def fill_the_disk(server: Server, full: bool) -> None:
    store: Any = server.app.state.services.store

    def limit() -> None:
        pages = store.db.execute("PRAGMA page_count").fetchone()[0]
        store.db.execute(f"PRAGMA max_page_count = {pages if full else 1_000_000_000}")

    await store._run(limit)  # noqa: SLF001 - on the store's own thread and connection


async def test_creating_an_event_and_rotating_a_link_on_a_full_disk_answer_503(
    full_server: Server,
) -> None:
    async with httpx.AsyncClient(base_url=full_server.url, timeout=30,
                                 headers={"origin": full_server.url}) as http:
        body = {"title": "Full disk", "rooms": [{"name": "A " * 90}], "goals": ["g " * 90]}
        event = (await http.post("/api/events", json=body, headers=auth(ADMIN))).json()
        await fill_the_disk(full_server, full=True)
        answers = [await http.post("/api/events", json=body, headers=auth(ADMIN)) for _ in range(40)]
        statuses = {a.status_code for a in answers}
        assert statuses <= {201, 503} and 503 in statuses, statuses
        refused = next(a for a in answers if a.status_code == 503)
        assert refused.json()["error"]["code"] == "unavailable"
        # The page form: the friendly page, not a stack trace.
        pages = [await http.post("/new", data={
            "admin_token": ADMIN, "title": "Full", "rooms": "\n".join(["Room " * 30] * 5),
            "goals": "", "language": "en"}) for _ in range(10)]
        assert {p.status_code for p in pages} <= {303, 503}
        page = next(p for p in pages if p.status_code == 503)
        assert "<html" in page.text.lower() and "Try again shortly" in page.text
        # Rotating a link writes too.
        room = event["rooms"][0]
        rotations = [await http.post(f"/api/events/{event['id']}/rooms/{room['id']}/token",
                                     headers=auth(event["organiser_token"])) for _ in range(10)]
        assert {r.status_code for r in rotations} <= {200, 503}
        assert 503 in {r.status_code for r in rotations}
        # A participant's form post.
        items = [await http.post(
            f"/api/events/{event['id']}/rooms/{room['id']}/items",
            json={"id": str(uuid.uuid4()), "text": "x" * 1500},
            headers=auth(event["organiser_token"])) for _ in range(10)]
        assert {i.status_code for i in items} <= {201, 503} and 503 in {i.status_code for i in items}

        await fill_the_disk(full_server, full=False)
        assert (await http.post("/api/events", json=body, headers=auth(ADMIN))).status_code == 201
        again = await http.post(f"/api/events/{event['id']}/rooms/{room['id']}/token",
                                headers=auth(event["organiser_token"]))
        assert again.status_code == 200

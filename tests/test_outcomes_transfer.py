"""The JSON export re-imported (in process and with `facilitation import`), and `facilitation export`."""

from __future__ import annotations

import copy
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from facilitation.outcomes.transfer import BadExport, import_event
from tests.conftest import Server, auth
from tests.outcomes_fixtures import Hostile, hostile_event, services_of


@pytest.fixture(scope="module")
async def hostile(server: Server) -> AsyncIterator[Hostile]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        yield await hostile_event(http, server)


async def outcomes(client: httpx.AsyncClient, event_id: str, token: str, fmt: str = "json") -> Any:
    answer = await client.get(f"/api/events/{event_id}/outcomes.{fmt}", headers=auth(token))
    assert answer.status_code == 200, answer.text
    return answer.json() if fmt == "json" else answer.content


def comparable(doc: dict[str, Any]) -> dict[str, Any]:
    """What must survive a re-import: everything but ids of the event, rooms, goals and versions."""
    rooms = {r["id"]: r["name"] for r in doc["event"]["rooms"]}
    goals = {g["id"]: g["text"] for g in doc["event"]["goals"]}

    def entity(e: dict[str, Any]) -> dict[str, Any]:
        # A merge's "items" may name deleted items; "live_items" is what carries over.
        out = {k: v for k, v in e.items() if k not in ("room", "version", "rooms", "items")}
        if "goals" in out:
            out["goals"] = [goals[g] for g in out["goals"]]
        return out

    return {
        "title": doc["event"]["title"],
        "rooms": [(r["name"], r["prompt"], r["locked"], r["counts"]) for r in doc["event"]["rooms"]],
        "goals": list(goals.values()),
        "actions": [entity(a) for a in doc["actions"]],
        "roles": [entity(r) for r in doc["roles"]],
        "merges": [entity(m) for m in doc["merges"]],
        "merge_rooms": [[rooms[r] for r in m["rooms"]] for m in doc["merges"]],
        "votes": [entity(v) for v in doc["votes"]],
        "totals": doc["totals"],
        "alignment": [(a["text"], list(a["rooms"].values()), a["total"])
                      for a in doc["goal_alignment"]],
    }


async def test_import_recreates_the_event(server: Server, client: httpx.AsyncClient,
                                          hostile: Hostile) -> None:
    original = await outcomes(client, hostile.event["id"], hostile.token)
    doc = copy.deepcopy(original)
    doc["event"]["rooms"][2]["locked"] = True
    event_id, secrets = await import_event(services_of(server), doc)
    assert event_id != hostile.event["id"] and secrets.organiser_token != hostile.token
    copied = await outcomes(client, event_id, secrets.organiser_token)
    expected = comparable(original)
    expected["rooms"][2] = (*expected["rooms"][2][:2], True, expected["rooms"][2][3])
    assert comparable(copied) == expected
    # The copy is a live event: its third room is locked, the others take writes.
    event = (await client.get(f"/api/events/{event_id}", headers=auth(secrets.organiser_token)))
    assert [r["locked"] for r in event.json()["rooms"]] == [False, False, True]


async def test_a_bad_file_creates_nothing(server: Server, hostile: Hostile,
                                          client: httpx.AsyncClient) -> None:
    services = services_of(server)
    before = await services.store.event_ids()
    doc = await outcomes(client, hostile.event["id"], hostile.token)
    for broken in ({"schema": 2}, [], {**doc, "actions": [{"id": "x", "room": "elsewhere"}]},
                   {**doc, "event": {**doc["event"], "title": ""}}):
        with pytest.raises(BadExport):
            await import_event(services, broken)
    assert await services.store.event_ids() == before


def store_for_cli(server: Server, tmp_path: Path) -> Path:
    """Where the command line can read the server's store.

    Redis: the server's own. SQLite: the embedded store serves one process at a time
    (the running server holds its folder), so a consistent copy made with SQLite's
    backup API, as an operator would copy it, in a folder of its own.
    """
    if server.settings.redis_url:
        return server.settings.data_dir
    folder = tmp_path / "copy"
    folder.mkdir(exist_ok=True)
    source = sqlite3.connect(server.settings.database_path)
    target = sqlite3.connect(folder / "facilitation.sqlite3")
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    return folder


def cli(args: list[str], server: Server, folder: Path) -> subprocess.CompletedProcess[bytes]:
    """The command line on ``folder`` (``store_for_cli``), or the server's Redis."""
    environ = {**os.environ, "FACILITATION_DATA_DIR": str(folder)}
    environ.pop("FACILITATION_REDIS_URL", None)
    if server.settings.redis_url:
        environ["FACILITATION_REDIS_URL"] = server.settings.redis_url
    return subprocess.run([sys.executable, "-m", "facilitation.cli", *args], env=environ,
                          capture_output=True, timeout=120, check=False)


async def test_cli_export_writes_what_the_api_serves(server: Server, client: httpx.AsyncClient,
                                                     hostile: Hostile, tmp_path: Path) -> None:
    folder = store_for_cli(server, tmp_path)
    for fmt in ("csv", "roles.csv", "md", "ics"):
        target = tmp_path / f"out.{fmt}"
        result = cli(["export", hostile.event["id"], "--format", fmt, "-o", str(target)], server,
                     folder)
        assert result.returncode == 0, result.stderr
        served = await outcomes(client, hostile.event["id"], hostile.token, fmt)
        if fmt in ("md", "ics"):  # they say when they were exported
            stamp = re.compile(rb"Exported [^\n]* UTC|DTSTAMP:\w+")
            assert stamp.sub(b"", target.read_bytes()) == stamp.sub(b"", served)
        else:
            assert target.read_bytes() == served
    result = cli(["export", hostile.event["id"], "--format", "json"], server, folder)
    assert result.returncode == 0
    served = await outcomes(client, hostile.event["id"], hostile.token)
    assert {**orjson.loads(result.stdout), "exported_at": ""} == {**served, "exported_at": ""}
    missing = cli(["export", "no-such-event", "--format", "csv"], server, folder)
    assert missing.returncode == 1 and b"no such event" in missing.stderr.lower()


async def test_cli_import_prints_the_new_links(server: Server, client: httpx.AsyncClient,
                                              hostile: Hostile, tmp_path: Path) -> None:
    original = await outcomes(client, hostile.event["id"], hostile.token)
    source = tmp_path / "outcomes.json"
    source.write_bytes(orjson.dumps(original))
    folder = store_for_cli(server, tmp_path)
    result = cli(["import", str(source)], server, folder)
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    found = re.search(r"/e/([0-9a-f]+)/moderate\?t=(\S+)", out)
    assert found and out.count("/r/") == 3
    event_id, _ = found.groups()
    # Read back where it was imported (the copy, or the server's Redis).
    exported = cli(["export", event_id, "--format", "json"], server, folder)
    assert exported.returncode == 0, exported.stderr
    assert comparable(orjson.loads(exported.stdout)) == comparable(original)
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": 99}')
    result = cli(["import", str(bad)], server, folder)
    assert result.returncode == 2 and b"schema" in result.stderr

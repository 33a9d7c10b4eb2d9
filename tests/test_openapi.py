"""The OpenAPI document stays true, and the API survives thousands of generated requests."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import Route, WebSocketRoute

from tests.conftest import ADMIN, Server, auth, free_port, item_body, make_settings, new_event

ROOT = Path(__file__).resolve().parent.parent


def api_routes(server: Server) -> set[tuple[str, str]]:
    assert server.server is not None
    app = server.server.config.app
    found = set()
    for route in app.routes:
        if isinstance(route, Route) and (route.path.startswith("/api/") or route.path == "/healthz"):
            for method in route.methods or ():
                if method != "HEAD":
                    found.add((method.lower(), route.path))
        elif isinstance(route, WebSocketRoute) and route.path.startswith("/api/"):
            found.add(("websocket", route.path))
    return found


async def test_every_api_row_is_in_the_document_and_nothing_else(
    server: Server, client: httpx.AsyncClient
) -> None:
    answer = await client.get("/api/openapi.json")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    doc = answer.json()
    assert doc["openapi"].startswith("3.1")
    described = {(method, path) for path, ops in doc["paths"].items() for method in ops}
    described |= {("websocket", path) for path in doc["x-websockets"]}
    assert api_routes(server) == described
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            statuses = set(op["responses"])
            assert {"401", "404", "413", "422", "429"} <= statuses, (method, path)
            if op.get("requestBody"):
                name = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                schema = doc["components"]["schemas"][name.rsplit("/", 1)[-1]]
                assert schema.get("additionalProperties") is False, name  # unknown fields: 422


async def test_the_document_is_valid_openapi(client: httpx.AsyncClient) -> None:
    import schemathesis

    doc = (await client.get("/api/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(doc)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == sum(len(ops) for ops in doc["paths"].values())


async def test_405_is_json_with_allow_on_the_api(client: httpx.AsyncClient) -> None:
    answer = await client.put("/api/events")
    assert answer.status_code == 405
    assert answer.json()["error"]["code"] == "method_not_allowed"
    assert "POST" in answer.headers["allow"]


# -- fuzzing ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def fuzz_server(tmp_root: Path) -> AsyncIterator[Server]:
    """Its own server: the fuzz writes thousands of changes into its own event only."""
    port = free_port()
    settings = make_settings(tmp_root / f"fuzz-{port}", port, token_writes_per_second=100_000,
                             write_rate_per_minute=10_000_000)
    running = await Server(settings).start()
    yield running
    await running.stop()


async def everything(http: httpx.AsyncClient, event: dict[str, Any]) -> dict[str, Any]:
    """All an event holds, read through the API with its organiser token."""
    token = auth(event["organiser_token"])
    base = f"/api/events/{event['id']}"
    state: dict[str, Any] = {"event": (await http.get(base, headers=token)).json()}
    for room in event["rooms"]:
        state[room["id"]] = (await http.get(f"{base}/rooms/{room['id']}", headers=token)).json()
    state["merges"] = (await http.get(f"{base}/merges", headers=token)).json()
    plenary = (await http.get(f"{base}/plenary", headers=token)).json()
    plenary.pop("rooms", None)  # presence counts: not stored data
    state["plenary"] = plenary
    outcomes = (await http.get(f"{base}/outcomes.json", headers=token)).json()
    outcomes.pop("exported_at", None)
    state["outcomes"] = outcomes
    return state


def config_file(path: Path, fuzz: dict[str, Any], victim: dict[str, Any], ids: list[str],
                examples: int) -> Path:
    """Path parameters drawn mostly from real ids, so requests reach the handlers."""
    rooms = [r["id"] for r in fuzz["rooms"]] + [victim["rooms"][0]["id"]]
    events = [fuzz["id"], fuzz["id"], fuzz["id"], victim["id"]]
    path.write_text(f"""
generation.max-examples = {examples}
[dictionaries.events]
values = {json.dumps(events)}
[dictionaries.rooms]
values = {json.dumps(rooms)}
[dictionaries.ids]
values = {json.dumps(ids)}
[dictionaries.formats]
values = ["json", "csv", "roles.csv", "xlsx", "md", "html", "ics", "pdf"]
[parameters]
"path.event" = {{ dictionary = "events", probability = 0.95 }}
"path.room" = {{ dictionary = "rooms", probability = 0.9 }}
"path.id" = {{ dictionary = "ids", probability = 0.5 }}
"path.item" = {{ dictionary = "ids", probability = 0.5 }}
"path.fmt" = {{ dictionary = "formats", probability = 0.9 }}
# The downloads are rendered in a helper process: a few of each are enough.
[[operations]]
include-path-regex = "outcomes"
generation.max-examples = 3
""")
    return path


async def run_schemathesis(server: Server, config: Path, token: str, report: Path,
                           phases: str) -> tuple[int, str]:
    """The schemathesis command line against the running server; its exit code and output."""
    command = [
        sys.executable, "-m", "tests.schemathesis_cli", "--config-file", str(config), "run",
        f"{server.url}/api/openapi.json",
        "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
                    "response_schema_conformance,response_headers_conformance",
        "--phases", phases,
        "--header", f"Authorization: Bearer {token}", "--header", f"Origin: {server.url}",
        "--workers", "4", "--seed", "20261125", "--no-shrink", "--request-timeout", "20",
        "--suppress-health-check", "all", "--report", "ndjson",
        "--report-ndjson-path", str(report),
    ]
    # Run in the report's folder: schemathesis keeps a cache where it runs.
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        cwd=report.parent, env={**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_TELEMETRY": "false",
                                "PYTHONPATH": str(ROOT)})
    out, _ = await asyncio.wait_for(process.communicate(), 300)
    return int(process.returncode or 0), out.decode(errors="replace")


def count_requests(report: Path) -> dict[int, int]:
    statuses: dict[int, int] = {}
    for line in report.read_text().splitlines():
        for status in _statuses(json.loads(line)):
            statuses[status] = statuses.get(status, 0) + 1
    return statuses


def _statuses(node: Any) -> list[int]:
    found: list[int] = []
    if isinstance(node, dict):
        response = node.get("response")
        if isinstance(response, dict) and isinstance(response.get("status_code"), int):
            found.append(response["status_code"])
        for value in node.values():
            found.extend(_statuses(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_statuses(value))
    return found


async def test_fuzzing_the_api_finds_no_5xx_and_changes_nothing_it_may_not(
    fuzz_server: Server, tmp_path: Path
) -> None:
    async with httpx.AsyncClient(base_url=fuzz_server.url, timeout=30) as http:
        victim = await new_event(http)
        room = victim["rooms"][0]
        await http.post(f"/api/events/{victim['id']}/rooms/{room['id']}/items",
                        json=item_body("Victim's item <b>kept</b>"), headers=auth(room["join_token"]))
        fuzz = await new_event(http)
        # Real ids in the fuzz event, so updates and deletes reach real entries.
        fuzz_room = fuzz["rooms"][0]
        ids = []
        for n in range(3):
            made = await http.post(f"/api/events/{fuzz['id']}/rooms/{fuzz_room['id']}/items",
                                   json=item_body(f"fuzz item {n}"),
                                   headers=auth(fuzz_room["join_token"]))
            ids.append(made.json()["id"])
        before = await everything(http, victim)
        total: dict[int, int] = {}
        generated = 0
        # A join token (most rows refuse it) and the organiser's (they accept it), at once.
        # The coverage phase (every operation's boundary and invalid values: about 1,360
        # requests, the same whatever the number of examples) runs with the organiser's
        # token: with the join token most rows refuse it before reading the body, and the
        # rows of its room validate as they do for the organiser. Then random examples:
        # 10 per operation with the join token, 15 with the organiser's (3 per download).
        runs = [(fuzz_room["join_token"], 10, "examples,fuzzing"),
                (fuzz["organiser_token"], 15, "examples,coverage,fuzzing")]
        results = await asyncio.gather(*(
            run_schemathesis(fuzz_server,
                             config_file(tmp_path / f"st-{n}.toml", fuzz, victim, ids, n),
                             token, tmp_path / f"report-{n}.ndjson", phases)
            for token, n, phases in runs))
        for (_, n, _), (code, out) in zip(runs, results, strict=True):
            assert code == 0, out[-6000:]
            found = re.search(r"(\d+) generated, (\d+) passed", out)
            assert found and found.group(1) == found.group(2), out[-3000:]
            generated += int(found.group(1))
            for status, count in count_requests(tmp_path / f"report-{n}.ndjson").items():
                total[status] = total.get(status, 0) + count
        print(f"fuzzing: {generated} generated requests, statuses seen {sorted(total.items())}")
        assert generated >= 2000, generated
        assert not any(status >= 500 for status in total), total
        assert total.get(200, 0) + total.get(201, 0) > 20, total  # it reached the handlers
        # The other event is exactly as it was; the server still answers.
        assert await everything(http, victim) == before
        assert (await http.get("/healthz")).json()["status"] == "ok"
        made = await http.post("/api/events", json={"title": "after", "rooms": [{"name": "A"}]},
                               headers=auth(ADMIN))
        assert made.status_code == 201

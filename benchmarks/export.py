"""Export benchmark: every outcomes format of a 10,000-action event, and /healthz meanwhile.

    python -m benchmarks.export                 # 10,000 actions, 3 runs per format
    python -m benchmarks.export --actions 2000 --runs 5 --out export.json

It fills a fresh SQLite data folder through the store (as the API would: the same
commands), starts the real server (`facilitation serve`) on 127.0.0.1 as a subprocess,
then downloads each format with the organiser token while a prober asks /healthz
every 10 ms. It reports the export's wall time and size, and the /healthz latency
while the export runs next to the same latency on an idle server: an export made on
the event loop would hold every other request for its whole duration.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import multiprocessing
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx

from facilitation import config
from facilitation.domain import ITEM, MERGE, ROLE, VOTE, make_command, vote_id
from facilitation.outcomes import FORMATS
from facilitation.render import Renderer
from facilitation.schemas import EventIn, RoomIn
from facilitation.services import Services

HOST = "127.0.0.1"
ADMIN = "bench-export-admin-token"
TEXTS = (
    "Set up a joint contact list for ports and municipalities",
    "Beredskap på Vestlandet: felles øvelse før sommeren 🚢",
    "Préparer un exercice commun avec les fournisseurs d'énergie",
    "تنسيق خطة الاستجابة مع البلديات",
    "=SUM(A1:A9) <script>alert(1)</script> budget line\nsecond line of the action",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


async def populate(data_dir: Path, actions: int) -> tuple[str, str]:
    """An event of 6 rooms with ``actions`` actions, roles, merges and votes; its id and token."""
    settings = config.Settings(data_dir=data_dir, admin_token=ADMIN, secret_key="bench",
                               demo=False)
    services = Services.build(settings, Renderer())
    await services.start()
    try:
        body = EventIn(title="Regional preparedness (export benchmark)",
                       rooms=[RoomIn(name=f"Room {n}", prompt="What do we do next, and who?")
                              for n in range(1, 7)],
                       goals=["Shared situational picture", "Clear roles", "Joint exercises"])
        event_id, secrets = await services.create_event(body)
        rooms = [r["id"] for r in (await services.board(event_id)).event["rooms"]]
        items = [str(uuid.uuid4()) for _ in range(actions)]
        commands = [
            make_command(ITEM, "create", item_id, rooms[n % 6], {
                "text": f"{TEXTS[n % len(TEXTS)]} #{n}", "owner": f"Owner {n % 50}",
                "due": f"2027-{1 + n % 12:02d}-{1 + n % 28:02d}" if n % 4 else None,
                "goals": [f"g{1 + n % 3}"] if n % 5 else [],
                "status": ("proposed", "agreed", "done")[n % 3], "author": f"Person {n % 200}"})
            for n, item_id in enumerate(items)
        ]
        commands += [
            make_command(ROLE, "create", str(uuid.uuid4()), rooms[n % 6], {
                "actor": f"Actor {n}", "role": "Coordinator", "responsibility": "Contact list",
                "author": "Kari"})
            for n in range(actions // 20)
        ]
        # Every 50th pair of items merged across rooms, and some votes.
        commands += [
            make_command(MERGE, "create", str(uuid.uuid4()), None, {
                "text": f"Joint action {n}", "items": [items[n], items[n + 1]],
                "rooms": [rooms[n % 6], rooms[(n + 1) % 6]], "goals": [], "status": "proposed"})
            for n in range(0, actions - 1, 100)
        ]
        # Stored as an import stores them (voting was open, within each budget, then).
        commands += [
            make_command(VOTE, "create", vote_id(f"voter-{n % 30}", items[n]), None,
                         {"item": items[n], "voter": f"voter-{n % 30}"}, imported=True)
            for n in range(1, actions, 7)
        ]
        for start in range(0, len(commands), 1000):
            await asyncio.gather(*(services.store.append(event_id, c)
                                   for c in commands[start:start + 1000]))
        return event_id, secrets.organiser_token
    finally:
        await services.stop()


def start_server(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "FACILITATION_DATA_DIR": str(data_dir),
           "FACILITATION_ADMIN_TOKEN": ADMIN, "FACILITATION_DEMO": "false",
           "FACILITATION_LOG_LEVEL": "warning"}
    env.pop("FACILITATION_REDIS_URL", None)
    return subprocess.Popen([sys.executable, "-m", "facilitation.cli", "serve", "--port",
                             str(port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


async def wait_ready(http: httpx.AsyncClient, deadline: float = 30.0) -> None:
    stop = time.monotonic() + deadline
    while time.monotonic() < stop:
        try:
            if (await http.get("/healthz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise TimeoutError("the server did not start")


def prober(port: int, pipe: Connection) -> None:
    """Its own process (so the downloads in this one cannot delay it): on "start", ask
    /healthz every 10 ms over one keep-alive connection until "stop", then send back the
    latencies in milliseconds."""
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    while pipe.recv() == "start":
        latencies: list[float] = []
        while not pipe.poll():
            started = time.perf_counter()
            connection.request("GET", "/healthz")
            answer = connection.getresponse()
            answer.read()
            latencies.append((time.perf_counter() - started) * 1000)
            assert answer.status == 200
            time.sleep(0.01)
        pipe.recv()  # "stop"
        pipe.send(latencies)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def measure(port: int, event_id: str, token: str, runs: int) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    probing = context.Process(target=prober, args=(port, theirs), daemon=True)
    probing.start()

    def probed() -> list[float]:
        ours.send("stop")
        return ours.recv()  # type: ignore[no-any-return]

    try:
        async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", timeout=300) as client:
            await wait_ready(client)
            ours.send("start")
            await asyncio.sleep(3)  # an idle server, for comparison
            idle = probed()[20:]  # after the connection is open and warm
            results: dict[str, Any] = {
                "idle_healthz_ms": {"p50": pct(idle, .5), "p99": pct(idle, .99),
                                    "max": max(idle)}, "formats": {}}
            path = f"/api/events/{event_id}/outcomes."
            auth = {"Authorization": f"Bearer {token}"}
            await client.get(path + "json", headers=auth)  # the board is loaded once
            for fmt in FORMATS:
                times, during, size = [], [], 0
                for _ in range(runs):
                    ours.send("start")
                    await asyncio.sleep(0.05)
                    started = time.perf_counter()
                    answer = await client.get(path + fmt, headers=auth)
                    times.append(time.perf_counter() - started)
                    during += probed()
                    assert answer.status_code == 200, answer.text
                    size = len(answer.content)
                results["formats"][fmt] = {
                    "seconds_median": statistics.median(times), "bytes": size,
                    "healthz_answered": len(during), "healthz_p50_ms": pct(during, .5),
                    "healthz_p99_ms": pct(during, .99),
                    "healthz_max_ms": max(during, default=0.0)}
        return results
    finally:
        ours.send("quit")
        probing.join(10)


def table(results: dict[str, Any]) -> str:
    idle = results["idle_healthz_ms"]
    before, after = results["load_average"]
    lines = [f"{results['actions']:,} actions, {results['runs']} runs per format; idle /healthz "
             f"p50 {idle['p50']:.1f} ms, p99 {idle['p99']:.1f} ms; machine load average "
             f"{before:.1f} before, {after:.1f} after ({results['cpus']} CPUs)",
             "", "| format | export (median) | size | /healthz answered during | p50 | p99 | max |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for fmt, r in results["formats"].items():
        lines.append(f"| {fmt} | {r['seconds_median']:.2f} s | {r['bytes'] / 1e6:.1f} MB | "
                     f"{r['healthz_answered']} | {r['healthz_p50_ms']:.1f} ms | "
                     f"{r['healthz_p99_ms']:.1f} ms | {r['healthz_max_ms']:.1f} ms |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actions", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", help="also write the figures as JSON here")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="bench-export-"))
    server: subprocess.Popen[bytes] | None = None
    try:
        started = time.perf_counter()
        event_id, token = asyncio.run(populate(data_dir, args.actions))
        print(f"populated {args.actions:,} actions in {time.perf_counter() - started:.1f} s",
              file=sys.stderr)
        port = free_port()
        server = start_server(data_dir, port)
        load_before = os.getloadavg()[0]
        results = asyncio.run(measure(port, event_id, token, args.runs))
        results.update(load_average=[load_before, os.getloadavg()[0]], actions=args.actions,
                       runs=args.runs, python=platform.python_version(), cpus=os.cpu_count(),
                       machine=platform.machine())
        print(table(results))
        if args.out:
            Path(args.out).write_text(json.dumps(results, indent=2))
        return 0
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)  # its own session: only our server's group
            server.wait(15)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

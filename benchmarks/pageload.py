"""Scenario (h): a page-load storm. The session starts and 1,000 participants open their
room's join link within 10 s, while each room's writer goes on submitting.

Each participant is a new browser: a new connection, the join link, its redirects and the
name form where the app asks for one (the baselines answer the page at once), then the
room page; we stamp the send and the first byte of the room page's answer with
``time.monotonic_ns()`` (TTFB). Meanwhile one writer per room submits through the API
and one screen per room listens: their ack and submit -> screen figures are what the
room's live writers see during the storm. Targets take their turn one after another.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import time
import uuid
from multiprocessing.connection import Connection
from typing import Any

from benchmarks import report, servers
from benchmarks.loadgen import raise_nofile, summarize, summary_ms
from benchmarks.pages import _cookies, _target
from benchmarks.wire import HttpClient

ITEMS_PER_ROOM = 20


async def _participant(port: int, join: str, start_ns: int) -> tuple[int, int, str]:
    """(room page TTFB ns, whole visit ns, error or '') for one newcomer."""
    await asyncio.sleep(max(0.0, (start_ns - time.monotonic_ns()) / 1e9))
    began = time.monotonic_ns()
    client = HttpClient(servers.HOST, port)
    jar: dict[str, str] = {}
    path = join
    mark: list[int] = []
    try:
        for _ in range(6):
            cookie = "; ".join(f"{k}={v}" for k, v in jar.items())
            headers = {"Accept": "text/html", **({"Cookie": cookie} if cookie else {})}
            mark.clear()
            sent = time.monotonic_ns()
            status, answer, body = await asyncio.wait_for(client.request(
                "GET", path, headers=headers,
                on_first_byte=lambda: mark.append(time.monotonic_ns())), 30)
            _cookies(answer, jar)
            if status in (301, 302, 303, 307, 308):
                path = _target(answer["location"])
                continue
            if status == 200 and b'/name"' in body:
                # The app asks a newcomer's name, as a participant would give it.
                origin = f"http://{servers.HOST}:{port}"
                status, answer, _ = await asyncio.wait_for(client.request(
                    "POST", f"{path.split('?')[0]}/name",
                    form={"name": "Bench Participant", "org": "Bench"},
                    headers={"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items()),
                             "Origin": origin}), 30)
                _cookies(answer, jar)
                if status == 303:
                    path = _target(answer["location"])
                    continue
            if status != 200:
                return 0, 0, f"http {status}"
            return mark[0] - sent, time.monotonic_ns() - began, ""
        return 0, 0, "too many redirects"
    except Exception as exc:  # noqa: BLE001 - every failure is a counted error
        return 0, 0, f"{type(exc).__name__}"[:60]
    finally:
        await client.close()


def _proc(conn: Connection, port: int, visits: list[tuple[str, int]]) -> None:
    raise_nofile()

    async def main() -> list[tuple[int, int, str]]:
        return await asyncio.gather(*(_participant(port, j, at) for j, at in visits))

    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    conn.send(asyncio.run(main()))


def _fill(server: servers.Server, event: dict[str, Any]) -> None:
    async def main() -> None:
        clients = [HttpClient(servers.HOST, server.http_port) for _ in range(5)]

        async def one(client: HttpClient, rooms: list[dict[str, Any]]) -> None:
            for room in rooms:
                post = f"/api/events/{event['id']}/rooms/{room['id']}/items"
                for i in range(ITEMS_PER_ROOM):
                    body = {"id": str(uuid.uuid4()),
                            "text": f"Action item {i}: agree the next step and report back"}
                    status, _, data = await client.request("POST", post, body, room["join_token"])
                    if status != 201:
                        raise RuntimeError(f"item POST answered {status}: {data[:200]!r}")

        rooms = event["rooms"]
        await asyncio.gather(*(one(c, rooms[i::5]) for i, c in enumerate(clients)))
        for c in clients:
            await c.close()

    asyncio.run(main())


def page_storm(args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks.run import rigs, targets

    count, within = args.participants, args.within
    results: dict[str, Any] = {}
    with rigs(targets(args), 25, 1, 0, 2) as opened:
        for name, rig in opened.items():
            event = rig.event
            assert event is not None
            _fill(rig.server, event)
            joins = [_target(room["join_url"]) for room in event["rooms"]]
            # One unrecorded visit per room first: template compilation is not the steady state.
            asyncio.run(_warm(rig.server.http_port, joins))
            start_ns = time.monotonic_ns() + 2_000_000_000
            visits = [(joins[k % len(joins)], start_ns + int(k * within * 1e9 / count))
                      for k in range(count)]
            ctx = mp.get_context("spawn")
            procs = []
            for p in range(args.procs):
                ours, theirs = ctx.Pipe()
                proc = ctx.Process(target=_proc, args=(theirs, rig.server.http_port,
                                                       visits[p::args.procs]), daemon=True)
                proc.start()
                procs.append((proc, ours))
            # The rooms' writers and screens meanwhile, from the storm's start to past its end.
            time.sleep(max(0.0, (start_ns - time.monotonic_ns()) / 1e9 - 0.5))
            live = summarize([rig.fleet.step(args.rate, within + 1.0, 2.0, rig.server)])
            seen: list[tuple[int, int, str]] = []
            for proc, pipe in procs:
                if not pipe.poll(120):
                    raise TimeoutError("a page-storm process did not report")
                seen += pipe.recv()
                proc.join(10)
            errors: dict[str, int] = {}
            for _, _, error in seen:
                if error:
                    errors[error] = errors.get(error, 0) + 1
            ok = [s for s in seen if not s[2]]
            results[name] = {"ttfb_ms": summary_ms([s[0] for s in ok]),
                             "visit_ms": summary_ms([s[1] for s in ok]),
                             "pages": len(ok), "errors": errors, "live": live}
            r = results[name]
            print(f"   {name:<8} TTFB p50 {r['ttfb_ms']['p50']} p99 {r['ttfb_ms']['p99']} ms, "
                  f"visit p99 {r['visit_ms']['p99']} ms, {len(ok)}/{count} pages, errors {errors};"
                  f" writers ack p99 {live['ack_ms']['p99']} ms, screen p99 "
                  f"{live['last_screen_ms']['p99']} ms, stall {live['cpu_stall_pct']}%", flush=True)
    rows = [[n, r["pages"], r["ttfb_ms"]["p50"], r["ttfb_ms"]["p99"], r["ttfb_ms"]["max"],
             r["visit_ms"]["p99"], sum(r["errors"].values()), r["live"]["ack_ms"]["p50"],
             r["live"]["ack_ms"]["p99"], r["live"]["last_screen_ms"]["p99"],
             r["live"]["server_cpu_pct"], r["live"]["cpu_stall_pct"]] for n, r in results.items()]
    print(report.table(
        f"scenario h: {count:,} participants open their room page within {within:g} s "
        f"(25 rooms of {ITEMS_PER_ROOM} items; writers at {args.rate:g}/s meanwhile)",
        ["target", "pages", "TTFB p50 ms", "TTFB p99 ms", "TTFB max ms", "visit p99 ms", "errors",
         "writers ack p50 ms", "writers ack p99 ms", "submit -> screen p99 ms", "server CPU %",
         "CPU stall %"], rows))
    out: dict[str, Any] = {"results": results, "target_ttfb_p99_ms": 200.0}
    if "app" in results:
        app = results["app"]
        out["met"] = app["ttfb_ms"]["p99"] <= 200.0 and not app["errors"]
        for base in ("limit", "usual"):
            if base in results:
                out[f"ttfb_p99_ratio_app_over_{base}"] = report.ratio(
                    app["ttfb_ms"]["p99"], results[base]["ttfb_ms"]["p99"])
        print(f"target TTFB p99 <= 200 ms: {'MET' if out['met'] else 'MISSED'}")
    return out


async def _warm(port: int, joins: list[str]) -> None:
    for join in joins:
        await _participant(port, join, 0)

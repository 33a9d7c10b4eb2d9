"""Scenario (f): the room page with 500 items, time to first byte.

A participant's browser opens the room's join URL (which carries the token and, per the
contract, gets a signed session cookie), follows any redirect, and lands on the room page.
We do the same once, then time sequential loads of that page with the cookie, stamping
the send and the first byte of the answer with time.monotonic_ns().
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

from benchmarks import report, servers
from benchmarks.loadgen import summary_ms
from benchmarks.wire import HttpClient


def _cookies(headers: dict[str, str], jar: dict[str, str]) -> None:
    for line in headers.get("set-cookie", "").split("\n"):
        pair = line.split(";", 1)[0].strip()
        if "=" in pair:
            k, _, v = pair.partition("=")
            jar[k] = v


def _target(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def _measure(server: servers.Server, items: int, requests: int) -> dict[str, Any]:
    event = servers.create_event(server, 1, "Page benchmark")
    room = event["rooms"][0]
    post = f"/api/events/{event['id']}/rooms/{room['id']}/items"
    clients = [HttpClient(servers.HOST, server.http_port) for _ in range(8)]

    async def fill(client: HttpClient, start: int) -> None:
        for i in range(start, items, len(clients)):
            body = {"id": str(uuid.uuid4()),
                    "text": f"Action item {i}: agree the next step with the partners and report back"}
            status, _, data = await client.request("POST", post, body, room["join_token"])
            if status != 201:
                raise RuntimeError(f"item POST answered {status}: {data[:200]!r}")

    await asyncio.gather(*(fill(c, i) for i, c in enumerate(clients)))
    for c in clients:
        await c.close()

    page = HttpClient(servers.HOST, server.http_port)
    jar: dict[str, str] = {}
    cold_ms: float | None = None
    path = _target(room["join_url"])
    for _ in range(5):  # follow the join link's redirects like a browser
        cookie = "; ".join(f"{k}={v}" for k, v in jar.items())
        status, headers, body = await page.request(
            "GET", path, headers={"Cookie": cookie, "Accept": "text/html"} if cookie else
            {"Accept": "text/html"})
        _cookies(headers, jar)
        if status in (301, 302, 303, 307, 308):
            path = _target(headers["location"])
            continue
        break
    if status == 200 and b'/name"' in body:
        # First visit: the page asks for a name, as a participant would give it.
        cookie = "; ".join(f"{k}={v}" for k, v in jar.items())
        origin = f"http://{servers.HOST}:{server.http_port}"
        status, headers, body = await page.request(
            "POST", f"{path.split('?')[0]}/name", form={"name": "Bench Participant", "org": "Bench"},
            headers={"Cookie": cookie, "Origin": origin})
        _cookies(headers, jar)
        if status == 303:
            path = _target(headers["location"])
            cookie = "; ".join(f"{k}={v}" for k, v in jar.items())
            # The first render of this room since the server started: every entry
            # goes through its template once (later loads reuse them).
            started = time.monotonic_ns()
            status, headers, body = await page.request("GET", path, headers={"Cookie": cookie})
            cold_ms = round((time.monotonic_ns() - started) / 1e6, 2)
    if status != 200:
        raise RuntimeError(f"room page answered {status}")
    shown = body.count(b'class="entry item"')
    cookie_hdr = {"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items()), "Accept": "text/html"}
    ttfb: list[int] = []
    total: list[int] = []
    errors: dict[str, int] = {}
    size = 0
    for i in range(requests + 5):
        mark: list[int] = []

        def first_byte(mark: list[int] = mark) -> None:
            mark.append(time.monotonic_ns())

        sent = time.monotonic_ns()
        status, _, body = await page.request("GET", path, headers=cookie_hdr,
                                             on_first_byte=first_byte)
        done = time.monotonic_ns()
        if status != 200:
            errors[f"http {status}"] = errors.get(f"http {status}", 0) + 1
            continue
        if i >= 5:  # the first loads warm the template cache; a browser's first visit is not ours
            ttfb.append(mark[0] - sent)
            total.append(done - sent)
            size = len(body)
    await page.close()
    return {"page_path": path.split("?")[0], "page_bytes": size, "items_on_page": shown,
            "ttfb_ms": summary_ms(ttfb), "full_page_ms": summary_ms(total),
            "first_load_ms": cold_ms, "errors": errors}


def room_page_ttfb(items: int, requests: int) -> dict[str, Any]:
    server = servers.app().start()
    try:
        res = asyncio.run(_measure(server, items, requests))
        if res["errors"]:
            print(f"errors {res['errors']}; the server's log ends:\n{server.log_tail()}")
    except BaseException:
        print(f"the server's log ends:\n{server.log_tail()}")
        raise
    finally:
        server.stop()
    t, f = res["ttfb_ms"], res["full_page_ms"]
    print(report.table(f"scenario f: room page with {items} items, {requests} sequential loads",
                       ["target", "TTFB p50 ms", "TTFB p99 ms", "TTFB max ms", "full page p99 ms",
                        "first load ms", "page KB", "items shown"],
                       [["app", t["p50"], t["p99"], t["max"], f["p99"], res["first_load_ms"],
                         round(res["page_bytes"] / 1024, 1), res["items_on_page"]]]))
    met = t["p99"] <= 50.0 and not res["errors"]
    print(f"target TTFB p99 <= 50 ms: {'MET' if met else 'MISSED'}")
    return {"results": {"app": res}, "target_p99_ms": 50.0, "met": met}

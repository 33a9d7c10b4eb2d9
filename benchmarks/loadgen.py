"""The load generator: screens and writers spread over several processes.

Each generator process holds a share of the websocket screens and of the writers. Every
submit carries its own `time.monotonic_ns()` in the item text; every arrival is stamped
with `time.monotonic_ns()` in whichever process receives it. On Linux CLOCK_MONOTONIC is
one clock for the whole machine, so the two stamps compare across processes.

The coordinator (run.py) drives the processes in steps over pipes: connect everything,
then one or more timed steps (a submit rate for a duration, then a drain), then stop.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing as mp
import random
import resource
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Protocol

import psutil

from benchmarks.wire import Arrivals, HttpClient, WsScreen, open_screen


@dataclass
class ScreenSpec:
    """One websocket to hold open: a participant in a room, or a plenary screen."""

    port: int
    path: str
    token: str | None


@dataclass
class WriterSpec:
    """One writer: submits items to one room over its own keep-alive HTTP connection."""

    wid: int
    path: str
    token: str | None
    expected: int  # how many screens must receive each of its items


@dataclass
class Plan:
    host: str
    http_port: int
    screens: list[ScreenSpec] = field(default_factory=list)
    writers: list[WriterSpec] = field(default_factory=list)
    connect_concurrency: int = 50


def raise_nofile() -> None:
    """10,000 sockets need more than the usual 1,024 descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# ---------------------------------------------------------------- generator process side


async def _connect_all(plan: Plan, arrivals: Arrivals) -> tuple[list[WsScreen], Counter[str]]:
    screens: list[WsScreen] = []
    errors: Counter[str] = Counter()
    # Bounded concurrency: thousands of simultaneous SYNs overflow the listen backlog and
    # measure the kernel's retry timer, not the server.
    gate = asyncio.Semaphore(plan.connect_concurrency)

    async def one(spec: ScreenSpec) -> None:
        async with gate:
            try:
                screens.append(await open_screen(plan.host, spec.port, spec.path, spec.token, arrivals))
            except Exception as exc:  # noqa: BLE001 - every failure is a counted error
                errors[f"connect: {str(exc)[:80] or type(exc).__name__}"] += 1

    await asyncio.gather(*(one(s) for s in plan.screens))
    return screens, errors


async def _write(
    spec: WriterSpec, client: HttpClient, start_ns: int, end_ns: int, interval_ns: int
) -> list[tuple[int, int, int, int, int]]:
    """Submit at a fixed rate; return (wid, sent ns, status, ack ns, late ns) per submit."""
    out: list[tuple[int, int, int, int, int]] = []
    # A random phase so that writers do not all fire on the same tick.
    due = start_ns + random.randrange(max(interval_ns, 1))
    while due < end_ns:
        now = time.monotonic_ns()
        if due > now:
            await asyncio.sleep((due - now) / 1e9)
        sent = time.monotonic_ns()
        body = {"id": str(uuid.uuid4()), "text": f"bench {sent} {spec.wid}"}
        try:
            status, _, _ = await client.request("POST", spec.path, body, spec.token)
        except Exception:  # noqa: BLE001 - a broken connection is an error, not a crash
            status = 0
        out.append((spec.wid, sent, status, time.monotonic_ns() - sent, sent - due))
        due += interval_ns
    return out


async def _worker_main(conn: Connection, plan: Plan) -> None:
    loop = asyncio.get_running_loop()
    arrivals = Arrivals()
    t0 = time.monotonic()
    screens, errors = await _connect_all(plan, arrivals)
    clients = [HttpClient(plan.host, plan.http_port) for _ in plan.writers]
    conn.send(("connected", {"ok": len(screens), "errors": dict(errors), "secs": time.monotonic() - t0}))
    while True:
        cmd, args = await loop.run_in_executor(None, conn.recv)
        if cmd == "stop":
            break
        # cmd == "step": run the writers, wait for the drain, report what was seen.
        start_ns: int = args["start_ns"]
        end_ns = start_ns + int(args["duration"] * 1e9)
        rate = args["rate_per_writer"]
        submits: list[tuple[int, int, int, int, int]] = []
        if rate > 0 and plan.writers:
            interval = int(1e9 / rate)
            pairs = zip(plan.writers, clients, strict=True)
            results = await asyncio.gather(
                *(_write(w, c, start_ns, end_ns, interval) for w, c in pairs))
            for r in results:
                submits.extend(r)
        rest = end_ns + int(args["drain"] * 1e9) - time.monotonic_ns()
        if rest > 0:
            await asyncio.sleep(rest / 1e9)
        items, lat, other = arrivals.take()
        closed = Counter(s.close_reason[:80] for s in screens if s.closed)
        conn.send(("step", {"submits": submits, "items": items, "lat": lat, "other": other,
                            "closed": dict(closed)}))
    for s in screens:
        s.close()
    for c in clients:
        await c.close()
    await asyncio.sleep(0.2)


def _worker_entry(conn: Connection, plan: Plan) -> None:
    raise_nofile()
    # A collector pause in the generator would be charged to the server as latency; a
    # bounded run allocates little that is cyclic, so it is safe to switch it off.
    gc.disable()
    try:
        import uvloop  # the server runs on uvloop; so does its load, for the same costs

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_worker_main(conn, plan))


# ---------------------------------------------------------------- coordinator side


class Probe(Protocol):
    """The server under test, as the coordinator samples it."""

    def cpu_seconds(self) -> float: ...

    def rss_bytes(self) -> int: ...


def split(plan: Plan, procs: int) -> list[Plan]:
    """Deal screens and writers round-robin so each process gets a fair share of each room."""
    parts = [Plan(plan.host, plan.http_port, connect_concurrency=plan.connect_concurrency)
             for _ in range(procs)]
    for i, s in enumerate(plan.screens):
        parts[i % procs].screens.append(s)
    for i, w in enumerate(plan.writers):
        parts[i % procs].writers.append(w)
    return parts


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary_ms(values_ns: list[int]) -> dict[str, float]:
    ms = [v / 1e6 for v in values_ns]
    ordered = sorted(ms)
    if not ordered:
        return {"p50": float("nan"), "p99": float("nan"), "max": float("nan"), "n": 0}
    n = len(ordered)
    return {"p50": round(ordered[n // 2], 2), "p99": round(ordered[min(n - 1, int(0.99 * n))], 2),
            "max": round(ordered[-1], 2), "n": n}


def _busy_seconds() -> float:
    """CPU seconds spent by the whole machine, all cores, outside idle and iowait."""
    t = psutil.cpu_times()
    guests = getattr(t, "guest", 0.0) + getattr(t, "guest_nice", 0.0)  # already in user
    return float(sum(t) - t.idle - getattr(t, "iowait", 0.0) - guests)


class Fleet:
    """The generator processes, driven step by step from the coordinator."""

    def __init__(self, plan: Plan, procs: int) -> None:
        self.plan = plan
        self.expected = {w.wid: w.expected for w in plan.writers}
        ctx = mp.get_context("spawn")  # no inherited event loop or server sockets
        self.pipes: list[Connection] = []
        self.procs: list[Any] = []
        for part in split(plan, procs):
            ours, theirs = ctx.Pipe()
            p = ctx.Process(target=_worker_entry, args=(theirs, part), daemon=True)
            p.start()
            self.pipes.append(ours)
            self.procs.append(p)
        self._ps = [psutil.Process(p.pid) for p in self.procs]

    def connect(self, timeout: float = 300.0) -> dict[str, Any]:
        ok, errors, secs = 0, Counter[str](), 0.0
        for pipe in self.pipes:
            if not pipe.poll(timeout):
                raise TimeoutError("a generator process did not finish connecting")
            _, info = pipe.recv()
            ok += info["ok"]
            errors.update(info["errors"])
            secs = max(secs, info["secs"])
        return {"connected": ok, "wanted": len(self.plan.screens), "errors": dict(errors),
                "connect_s": round(secs, 2)}

    def gen_cpu_seconds(self) -> float:
        total = 0.0
        for p in self._ps:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
        return total

    def step(self, rate: float, duration: float, drain: float, server: Probe) -> dict[str, Any]:
        """Submit `rate` items/s in total for `duration` s; return the step's figures."""
        writers = max(1, len(self.plan.writers))
        start_ns = time.monotonic_ns() + 500_000_000  # time for every process to get the order
        for pipe in self.pipes:
            pipe.send(("step", {"start_ns": start_ns, "duration": duration, "drain": drain,
                                "rate_per_writer": rate / writers}))
        time.sleep(max(0.0, (start_ns - time.monotonic_ns()) / 1e9))
        cpu0, gen0, t0 = server.cpu_seconds(), self.gen_cpu_seconds(), time.monotonic()
        busy0 = _busy_seconds()
        rss_peak = server.rss_bytes()
        while time.monotonic() - t0 < duration:
            time.sleep(min(1.0, max(0.0, duration - (time.monotonic() - t0))))
            rss_peak = max(rss_peak, server.rss_bytes())
        wall = time.monotonic() - t0
        cpu = (server.cpu_seconds() - cpu0) / wall * 100
        gen = (self.gen_cpu_seconds() - gen0) / wall * 100
        # Whatever else ran on the machine meanwhile (other people's tests, say): the
        # figures of a step with a busy neighbour deserve less trust, so it is recorded.
        other = max(0.0, (_busy_seconds() - busy0) / wall * 100 - cpu - gen)
        merged: dict[tuple[int, int], list[int]] = {}
        submits: list[tuple[int, int, int, int, int]] = []
        lat: list[int] = []
        other_frames, closed = 0, Counter[str]()
        for pipe in self.pipes:
            if not pipe.poll(duration + drain + 120):
                raise TimeoutError("a generator process did not report its step")
            _, r = pipe.recv()
            submits.extend(r["submits"])
            lat.extend(r["lat"])
            other_frames += r["other"]
            closed.update(r["closed"])
            for key, (count, last) in r["items"].items():
                m = merged.get(key)
                if m is None:
                    merged[key] = [count, last]
                else:
                    m[0] += count
                    m[1] = max(m[1], last)
        figures = self._figures(rate, duration, submits, merged, lat, other_frames, closed,
                                cpu, gen, rss_peak)
        figures["other_cpu_pct"] = round(other, 1)
        return figures

    def _figures(self, rate: float, duration: float, submits: list[tuple[int, int, int, int, int]],
                 merged: dict[tuple[int, int], list[int]], lat: list[int], other: int,
                 closed: Counter[str], cpu: float, gen: float, rss_peak: int) -> dict[str, Any]:
        statuses = Counter(s[2] for s in submits)
        acked = [s for s in submits if 200 <= s[2] < 300]
        last: list[int] = []
        missing = 0
        for wid, sent, _, _, _ in acked:
            want = self.expected[wid]
            got = merged.get((wid, sent), [0, 0])
            if got[0] >= want:
                last.append(got[1] - sent)
            else:
                missing += want - got[0]
        errors = {f"http {k}": v for k, v in statuses.items() if not 200 <= k < 300}
        if missing:
            errors["deliveries missing"] = missing
        errors.update({f"screen {k}": v for k, v in closed.items()})
        return {
            "rate_offered": rate,
            "duration_s": duration,
            "submits": len(submits),
            "acked": len(acked),
            "acked_per_s": round(len(acked) / duration, 1),
            "ack_ms": summary_ms([s[3] for s in acked]),
            "send_late_ms_p99": round(pct([s[4] / 1e6 for s in submits], 0.99), 2),
            "last_screen_ms": summary_ms(last),
            "delivery_ms": summary_ms(lat),
            "deliveries": len(lat),
            "deliveries_per_s": round(len(lat) / duration, 1),
            "other_frames": other,
            "errors": errors,
            "server_cpu_pct": round(cpu, 1),
            "server_rss_mb_peak": round(rss_peak / 2**20, 1),
            "generator_cpu_pct": round(gen, 1),
        }

    def stop(self) -> None:
        for pipe in self.pipes:
            try:
                pipe.send(("stop", None))
            except (BrokenPipeError, OSError):
                pass
        for p in self.procs:
            p.join(10)
            if p.is_alive():
                p.terminate()

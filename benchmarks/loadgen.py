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
from pathlib import Path
from typing import Any, Protocol

import psutil

from benchmarks.wire import Arrivals, HttpClient, Track, WsScreen, open_screen


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
    # Scenario (g): follow each screen across reconnects (order, repeats, every item).
    track: bool = False


def raise_nofile() -> None:
    """10,000 sockets need more than the usual 1,024 descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# ---------------------------------------------------------------- generator process side


async def _connect_all(plan: Plan, arrivals: Arrivals, tracks: list[Track | None],
                       concurrency: int | None = None,
                       ) -> tuple[list[WsScreen | None], Counter[str]]:
    """Open every screen of the plan (in the plan's order; None where it failed). A
    tracked screen resumes from the last seq it saw, as a page does."""
    screens: list[WsScreen | None] = [None] * len(plan.screens)
    errors: Counter[str] = Counter()
    # Bounded concurrency: thousands of simultaneous SYNs overflow the listen backlog and
    # measure the kernel's retry timer, not the server.
    gate = asyncio.Semaphore(concurrency or plan.connect_concurrency)

    async def one(i: int, spec: ScreenSpec) -> None:
        track = tracks[i]
        path = spec.path if track is None else spec.path.replace(
            "after=0", f"after={track.last_seq}")
        async with gate:
            try:
                screens[i] = await open_screen(plan.host, spec.port, path, spec.token, arrivals,
                                               track=track)
            except Exception as exc:  # noqa: BLE001 - every failure is a counted error
                errors[f"connect: {str(exc)[:80] or type(exc).__name__}"] += 1

    await asyncio.gather(*(one(i, s) for i, s in enumerate(plan.screens)))
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
            # Bounded: a server that never answers must fail the step, not hang the run.
            status, _, _ = await asyncio.wait_for(
                client.request("POST", spec.path, body, spec.token), REQUEST_TIMEOUT_S)
        except Exception:  # noqa: BLE001 - a broken connection is an error, not a crash
            status = 0
            await client.close()
        out.append((spec.wid, sent, status, time.monotonic_ns() - sent, sent - due))
        due += interval_ns
    return out


MAX_DRAIN_S = 20.0
REQUEST_TIMEOUT_S = 10.0


async def _drain(arrivals: Arrivals, until_ns: int, cap_ns: int) -> None:
    """Wait out the drain, then for as long as frames keep arriving (up to a cap).

    A server behind on its deliveries is still delivering: cutting it off at a fixed time
    would count late frames as lost, and charge them to the next step.
    """
    seen = -1
    while True:
        now = time.monotonic_ns()
        count = len(arrivals.latencies_ns) + arrivals.other_frames
        if (now >= until_ns and count == seen) or now >= cap_ns:
            return
        seen = count
        await asyncio.sleep(0.5)


async def _worker_main(conn: Connection, plan: Plan) -> None:
    loop = asyncio.get_running_loop()
    arrivals = Arrivals()
    t0 = time.monotonic()
    tracks: list[Track | None] = [Track() if plan.track else None for _ in plan.screens]
    screens, errors = await _connect_all(plan, arrivals, tracks)
    clients = [HttpClient(plan.host, plan.http_port) for _ in plan.writers]
    conn.send(("connected", {"ok": sum(s is not None for s in screens), "errors": dict(errors),
                             "secs": time.monotonic() - t0}))
    while True:
        cmd, args = await loop.run_in_executor(None, conn.recv)
        if cmd == "stop":
            break
        if cmd == "drop":
            for screen in screens:
                if screen is not None:
                    screen.drop()
            conn.send(("dropped", {}))
            continue
        # "step": run the writers, wait for the drain, report what was seen. "storm":
        # the same, with every screen reconnecting at the start (scenario g).
        start_ns: int = args["start_ns"]
        end_ns = start_ns + int(args["duration"] * 1e9)
        rate = args["rate_per_writer"]
        storm: asyncio.Task[tuple[list[WsScreen | None], Counter[str]]] | None = None
        if cmd == "storm":
            await asyncio.sleep(max(0.0, (start_ns - time.monotonic_ns()) / 1e9))
            storm = asyncio.create_task(_connect_all(plan, arrivals, tracks, args["gate"]))
        submits: list[tuple[int, int, int, int, int]] = []
        if rate > 0 and plan.writers:
            interval = int(1e9 / rate)
            pairs = zip(plan.writers, clients, strict=True)
            results = await asyncio.gather(
                *(_write(w, c, start_ns, end_ns, interval) for w, c in pairs))
            for r in results:
                submits.extend(r)
        report: dict[str, Any] = {}
        if storm is not None:
            screens, errors = await storm
            report["connect_errors"] = dict(errors)
        await _drain(arrivals, end_ns + int(args["drain"] * 1e9), end_ns + int(MAX_DRAIN_S * 1e9))
        items, lat, other = arrivals.take()
        closed = Counter(s.close_reason[:80] for s in screens
                         if s is not None and s.closed and s.close_reason != "dropped by client")
        if storm is not None:
            report["screens"] = [
                None if t is None else (t.last_seq, t.disorder,
                                        [(k[0], k[1], v[0], v[1]) for k, v in t.items.items()])
                for t in tracks]
            report["connected"] = [s is not None for s in screens]
        conn.send(("step", {"submits": submits, "items": items, "lat": lat, "other": other,
                            "closed": dict(closed), **report}))
    for s in screens:
        if s is not None:
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


def split(plan: Plan, procs: int, writer_procs: int = 0) -> list[Plan]:
    """Deal screens and writers round-robin so each process gets a fair share of each room.

    With `writer_procs`, the writers get that many processes of their own after the
    `procs` screen processes: a writer sharing an event loop with screens that are busy
    (parsing a storm's catch-up frames, say) stamps its ack late, and the delay is the
    generator's, not the server's."""
    parts = [Plan(plan.host, plan.http_port, connect_concurrency=plan.connect_concurrency,
                  track=plan.track) for _ in range(procs + writer_procs)]
    for i, s in enumerate(plan.screens):
        parts[i % procs].screens.append(s)
    for i, w in enumerate(plan.writers):
        parts[procs + i % writer_procs if writer_procs else i % procs].writers.append(w)
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


@dataclass
class StepRaw:
    """One step's raw measurements; `summarize` turns one or more of them into figures."""

    rate: float
    duration: float
    wall: float
    rss_peak: int
    submits: int = 0
    ack: list[int] = field(default_factory=list)  # ns, acknowledged submits only
    late: list[int] = field(default_factory=list)  # ns each submit left after its due time
    last: list[int] = field(default_factory=list)  # ns, submit -> the last screen that got it
    lat: list[int] = field(default_factory=list)  # ns, submit -> each screen
    statuses: Counter[int] = field(default_factory=Counter)
    missing: int = 0
    closed: Counter[str] = field(default_factory=Counter)
    other_frames: int = 0
    server_cpu_s: float = 0.0
    gen_cpu_s: float = 0.0
    other_cpu_s: float = 0.0
    stall_us: int = 0
    start_ns: int = 0  # when the step's writers (and a storm's reconnects) began
    # A storm step (scenario g): each screen's history, in the plan's order.
    screens: list[Any] = field(default_factory=list)
    connect_errors: Counter[str] = field(default_factory=Counter)


def summarize(raws: list[StepRaw]) -> dict[str, Any]:
    """Figures over one step, or over the interleaved rounds of one target."""
    duration = sum(r.duration for r in raws)
    wall = sum(r.wall for r in raws) or 1.0
    statuses: Counter[int] = sum((r.statuses for r in raws), Counter())
    closed: Counter[str] = sum((r.closed for r in raws), Counter())
    missing = sum(r.missing for r in raws)
    acked = sum(len(r.ack) for r in raws)
    deliveries = sum(len(r.lat) for r in raws)
    errors = {f"http {k}": v for k, v in statuses.items() if not 200 <= k < 300}
    if missing:
        errors["deliveries missing"] = missing
    errors.update({f"screen {k}": v for k, v in closed.items()})
    late = [x / 1e6 for r in raws for x in r.late]
    return {
        "rate_offered": raws[0].rate,
        "duration_s": duration,
        "rounds": len(raws),
        "submits": sum(r.submits for r in raws),
        "acked": acked,
        "acked_per_s": round(acked / duration, 1),
        "ack_ms": summary_ms([x for r in raws for x in r.ack]),
        "send_late_ms_p99": round(pct(late, 0.99), 2),
        "last_screen_ms": summary_ms([x for r in raws for x in r.last]),
        "delivery_ms": summary_ms([x for r in raws for x in r.lat]),
        "deliveries": deliveries,
        "deliveries_per_s": round(deliveries / duration, 1),
        "other_frames": sum(r.other_frames for r in raws),
        "errors": errors,
        # CPU in percent of one core (this machine has two: 200% is all of it).
        "server_cpu_pct": round(sum(r.server_cpu_s for r in raws) / wall * 100, 1),
        "server_rss_mb_peak": round(max(r.rss_peak for r in raws) / 2**20, 1),
        "generator_cpu_pct": round(sum(r.gen_cpu_s for r in raws) / wall * 100, 1),
        "other_cpu_pct": round(sum(r.other_cpu_s for r in raws) / wall * 100, 1),
        # Share of the time some runnable task waited for a core (Linux PSI, cpu "some").
        "cpu_stall_pct": round(sum(r.stall_us for r in raws) / wall / 1e4, 1),
    }


def _cpu_stall_us() -> int:
    try:
        line = Path("/proc/pressure/cpu").read_text().splitlines()[0]
        return int(line.rsplit("total=", 1)[1])
    except (OSError, IndexError, ValueError):
        return 0


def _busy_seconds() -> float:
    """CPU seconds spent by the whole machine, all cores, outside idle and iowait."""
    t = psutil.cpu_times()
    guests = getattr(t, "guest", 0.0) + getattr(t, "guest_nice", 0.0)  # already in user
    return float(sum(t) - t.idle - getattr(t, "iowait", 0.0) - guests)


class Fleet:
    """The generator processes, driven step by step from the coordinator."""

    def __init__(self, plan: Plan, procs: int, writer_procs: int = 0) -> None:
        self.plan = plan
        self.screen_procs = procs  # the first `procs` processes hold the screens (see split)
        self.expected = {w.wid: w.expected for w in plan.writers}
        ctx = mp.get_context("spawn")  # no inherited event loop or server sockets
        self.pipes: list[Connection] = []
        self.procs: list[Any] = []
        for part in split(plan, procs, writer_procs):
            ours, theirs = ctx.Pipe()
            p = ctx.Process(target=_worker_entry, args=(theirs, part), daemon=True)
            p.start()
            self.pipes.append(ours)
            self.procs.append(p)
        self._ps = [psutil.Process(p.pid) for p in self.procs]
        self.acked: list[tuple[int, int]] = []  # (writer, sent ns) of every acknowledged submit

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

    def drop(self) -> None:
        """Every screen loses its connection at once (scenario g)."""
        for pipe in self.pipes:
            pipe.send(("drop", None))
        for pipe in self.pipes:
            if not pipe.poll(60):
                raise TimeoutError("a generator process did not drop its screens")
            pipe.recv()

    def step(self, rate: float, duration: float, drain: float, server: Probe,
             storm_gate: int | None = None) -> StepRaw:
        """Submit `rate` items/s in total for `duration` s; return what was measured.

        With `storm_gate`, every screen also reconnects at the step's start, from the
        last seq it saw, at most `storm_gate` at a time per generator process."""
        writers = max(1, len(self.plan.writers))
        start_ns = time.monotonic_ns() + 500_000_000  # time for every process to get the order
        order = {"start_ns": start_ns, "duration": duration, "drain": drain,
                 "rate_per_writer": rate / writers, "gate": storm_gate}
        for pipe in self.pipes:
            pipe.send(("storm" if storm_gate else "step", order))
        time.sleep(max(0.0, (start_ns - time.monotonic_ns()) / 1e9))
        cpu0, gen0, t0 = server.cpu_seconds(), self.gen_cpu_seconds(), time.monotonic()
        busy0, stall0 = _busy_seconds(), _cpu_stall_us()
        rss_peak = server.rss_bytes()
        while time.monotonic() - t0 < duration:
            time.sleep(min(1.0, max(0.0, duration - (time.monotonic() - t0))))
            rss_peak = max(rss_peak, server.rss_bytes())
        raw = StepRaw(rate=rate, duration=duration, wall=time.monotonic() - t0, rss_peak=rss_peak,
                      start_ns=start_ns)
        raw.server_cpu_s = server.cpu_seconds() - cpu0
        raw.gen_cpu_s = self.gen_cpu_seconds() - gen0
        # Whatever else ran on the machine meanwhile (other people's tests, say), and how
        # long runnable tasks waited for a core: a step with a busy neighbour deserves
        # less trust, so both are recorded with it.
        raw.other_cpu_s = max(0.0, _busy_seconds() - busy0 - raw.server_cpu_s - raw.gen_cpu_s)
        raw.stall_us = _cpu_stall_us() - stall0
        merged: dict[tuple[int, int], list[int]] = {}
        submits: list[tuple[int, int, int, int, int]] = []
        procs = self.screen_procs
        if storm_gate:
            raw.screens = [None] * len(self.plan.screens)
        for p, pipe in enumerate(self.pipes):
            if not pipe.poll(duration + drain + MAX_DRAIN_S + 120):
                raise TimeoutError("a generator process did not report its step")
            _, r = pipe.recv()
            if storm_gate:
                # split() dealt screen i to process i % procs, as its (i // procs)-th;
                # a writers-only process reports no screens.
                for j, history in enumerate(r["screens"]):
                    raw.screens[j * procs + p] = history if r["connected"][j] else None
                raw.connect_errors.update(r["connect_errors"])
            submits.extend(r["submits"])
            raw.lat.extend(r["lat"])
            raw.other_frames += r["other"]
            raw.closed.update(r["closed"])
            for key, (count, last) in r["items"].items():
                m = merged.get(key)
                if m is None:
                    merged[key] = [count, last]
                else:
                    m[0] += count
                    m[1] = max(m[1], last)
        raw.submits = len(submits)
        raw.statuses.update(s[2] for s in submits)
        raw.late = [s[4] for s in submits]
        for wid, sent, status, ack, _ in submits:
            if not 200 <= status < 300:
                continue
            raw.ack.append(ack)
            self.acked.append((wid, sent))
            want = self.expected[wid]
            got = merged.get((wid, sent), [0, 0])
            if got[0] >= want:
                raw.last.append(got[1] - sent)
            else:
                raw.missing += want - got[0]
        return raw

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

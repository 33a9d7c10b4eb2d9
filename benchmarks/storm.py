"""Scenario (g): the venue's Wi-Fi drops for everyone, changes go on, and every screen
reconnects in the same second with ``?after=<the last seq it saw>``.

Per target and round: every screen drops its connection at once (a TCP reset, no close
frame), the writers store `missed` items while the screens are away, then every screen
reconnects at once (at most `--storm-gate` connects in flight per generator process)
while the writers go on at `--storm-rate` submits/s. A screen is *caught up* when it
holds every item written while it was away; its figure is that moment minus the
moment the reconnects began. Over each screen's whole life the run checks that it got
every acknowledged item of its room exactly once, in seq order.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from benchmarks import report, servers
from benchmarks.loadgen import Fleet, StepRaw, summarize, summary_ms


def _rooms_of(fleet: Fleet) -> tuple[list[str | None], dict[int, str | None]]:
    """Each screen's room key and each writer's (the room's join token; None: plenary)."""
    writer_room: dict[int, str | None] = {w.wid: w.token for w in fleet.plan.writers}
    rooms = set(writer_room.values())
    screen_room = [s.token if s.token in rooms else None for s in fleet.plan.screens]
    return screen_room, writer_room


def judge(fleet: Fleet, gap: set[tuple[int, int]], storm: StepRaw) -> dict[str, Any]:
    """Every screen's catch-up time, and the exactly-once-in-order check over its life."""
    screen_room, writer_room = _rooms_of(fleet)
    by_room: dict[str | None, set[tuple[int, int]]] = {}
    for key in fleet.acked:
        by_room.setdefault(writer_room[key[0]], set()).add(key)
    everything = set(fleet.acked)
    caught: list[int] = []
    missing = repeated = disorder = not_back = 0
    for i, history in enumerate(storm.screens):
        if history is None:
            not_back += 1
            continue
        _, out_of_order, items = history
        room = screen_room[i]
        want = everything if room is None else by_room.get(room, set())
        got = {(wid, sent): (count, first) for wid, sent, count, first in items}
        missing += len(want - got.keys())
        repeated += sum(count - 1 for count, _ in got.values())
        disorder += out_of_order
        missed = [got[k][1] for k in want & gap if k in got]
        if missed and len(missed) == len(want & gap):
            caught.append(max(missed) - storm.start_ns)
    return {"screens": len(storm.screens), "caught_up": len(caught), "not_reconnected": not_back,
            "missing": missing, "repeated": repeated, "out_of_order": disorder,
            "caught_up_ms": summary_ms(caught), "caught_ns": caught}


def storm_round(fleet: Fleet, server: servers.Server, missed: int, args: argparse.Namespace,
                ) -> tuple[dict[str, Any], StepRaw]:
    fleet.drop()
    time.sleep(1.0)  # the server notices the resets
    before = len(fleet.acked)
    # The changes the screens miss, written while they are away (nobody receives them
    # now: the step's own delivery figures are meaningless and not kept).
    fleet.step(missed / args.gap_s, args.gap_s, 0.0, server)
    gap = set(fleet.acked[before:])
    time.sleep(0.5)
    storm = fleet.step(args.storm_rate, args.storm_s, 2.0, server, storm_gate=args.storm_gate)
    verdict = judge(fleet, gap, storm)
    verdict["gap_acked"] = len(gap)
    verdict["connect_errors"] = dict(storm.connect_errors)
    return verdict, storm


def storm_scenario(name: str, args: argparse.Namespace,
                   factories: dict[str, Callable[[], servers.Server]], rooms: int,
                   per_room: int, missed: int, procs: int) -> dict[str, Any]:
    from benchmarks.run import n_errors, rigs

    results: dict[str, Any] = {}
    caught: dict[str, list[int]] = {t: [] for t in factories}
    storms: dict[str, list[StepRaw]] = {t: [] for t in factories}
    totals: dict[str, Counter[str]] = {t: Counter() for t in factories}
    rounds: dict[str, list[dict[str, Any]]] = {t: [] for t in factories}
    # The writers in a process of their own (--writer-procs): their ack stamps must not
    # wait behind ~250 screens parsing catch-up frames on the same event loop.
    with rigs(factories, rooms, per_room, 0, procs, track=True,
              writer_procs=args.writer_procs) as opened:
        for _ in range(args.storm_rounds):
            for target, rig in opened.items():
                verdict, storm = storm_round(rig.fleet, rig.server, missed, args)
                caught[target] += verdict.pop("caught_ns")
                storms[target].append(storm)
                for k in ("missing", "repeated", "out_of_order", "not_reconnected"):
                    totals[target][k] += verdict[k]
                step = summarize([storm])
                verdict["storm_writes"] = step
                rounds[target].append(verdict)
                print(f"   {target:<22} caught up {verdict['caught_up']}/{verdict['screens']}"
                      f" p50 {verdict['caught_up_ms']['p50']} p99 {verdict['caught_up_ms']['p99']}"
                      f" ms; missing {verdict['missing']}, repeated {verdict['repeated']},"
                      f" out of order {verdict['out_of_order']}; writes ack p99 "
                      f"{step['ack_ms']['p99']} ms; stall {step['cpu_stall_pct']}%", flush=True)
        for target, rig in opened.items():
            writes = summarize(storms[target])
            results[target] = {**rig.info, "rounds": rounds[target],
                               "caught_up_ms": summary_ms(caught[target]),
                               "screens_caught_up": len(caught[target]),
                               "screens": len(rig.fleet.plan.screens) * args.storm_rounds,
                               **dict(totals[target]), "storm_writes": writes}
    rows = []
    for target, r in results.items():
        w = r["storm_writes"]
        rows.append([target, f"{r['screens_caught_up']}/{r['screens']}", r["caught_up_ms"]["p50"],
                     r["caught_up_ms"]["p99"], r["caught_up_ms"]["max"], r["missing"],
                     r["repeated"], r["out_of_order"], w["ack_ms"]["p50"], w["ack_ms"]["p99"],
                     w["last_screen_ms"]["p99"], n_errors(w), w["server_cpu_pct"],
                     w["cpu_stall_pct"]])
    print(report.table(
        f"scenario {name}: {rooms * per_room:,} screens in {rooms} rooms miss {missed:,} changes, "
        f"then reconnect at once ({args.storm_rounds} rounds; writes at {args.storm_rate:g}/s "
        f"during the storm)",
        ["target", "caught up", "p50 ms", "p99 ms", "max ms", "missing", "repeated",
         "out of order", "ack p50 ms", "ack p99 ms", "storm writes last screen p99 ms",
         "errors", "server CPU %", "CPU stall %"], rows))
    out: dict[str, Any] = {"results": results, "target_caught_up_p99_ms": 1000.0,
                           "target_ack_p99_ms": 100.0, "missed": missed,
                           "screens": rooms * per_room, "rooms": rooms}
    app = next((t for t in results if t.startswith("app")), None)
    if app is not None:
        a = results[app]
        exact = (a["missing"] == 0 and a["repeated"] == 0 and a["out_of_order"] == 0
                 and a["screens_caught_up"] == a["screens"])
        p99 = a["caught_up_ms"]["p99"]
        ack = a["storm_writes"]["ack_ms"]["p99"]
        out["exactly_once"] = exact
        out["met"] = exact and p99 <= 1000.0 and ack <= 100.0
        for base in ("limit", "usual"):
            if base in results:
                r = report.ratio(p99, results[base]["caught_up_ms"]["p99"])
                out[f"caught_up_p99_ratio_app_over_{base}"] = r
                print(f"caught-up p99: app/{base} = {r}")
        if "usual" in results:
            out["no_slower_than_usual"] = p99 <= results["usual"]["caught_up_ms"]["p99"]
        print(f"every screen caught up exactly once: {'YES' if exact else 'NO'}; "
              f"p99 {p99} ms (target <= 1000), writes ack p99 {ack} ms (target <= 100): "
              f"{'MET' if out['met'] else 'MISSED'}")
    return out

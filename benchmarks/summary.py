"""Turn benchmarks/results/*.json into the Markdown tables of the README's results section.

    python -m benchmarks.summary > /tmp/results.md
"""

from __future__ import annotations

import json
from typing import Any

from benchmarks.report import RESULTS, fmt


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _row(cells: list[Any]) -> str:
    return "| " + " | ".join(fmt(c) for c in cells) + " |"


def _head(cols: list[str]) -> list[str]:
    return [_row(cols), "|" + "|".join(" --- " for _ in cols) + "|"]


def _met(flag: Any) -> str:
    return "met" if flag is True else "missed" if flag is False else "-"


def _fanout(doc: dict[str, Any], extra: str = "") -> list[str]:
    cols = ["target", "p50 ms", "p99 ms", "max ms", "deliveries/s", "errors", "server CPU %",
            "server RSS MB", "KB/conn", "CPU stall %"]
    if extra:
        cols.append(extra)
    out = _head(cols)
    for name, res in doc["results"].items():
        s = res["steps"][0]
        ls = s["last_screen_ms"]
        cells = [name, ls["p50"], ls["p99"], ls["max"], s["deliveries_per_s"],
                 sum(s["errors"].values()), s["server_cpu_pct"], s["server_rss_mb_peak"],
                 res.get("kb_per_connection", "-"), s["cpu_stall_pct"]]
        if extra:
            cells.append(res.get("capacity_deliveries_per_s", "-"))
        out.append(_row(cells))
    return out


def _machine(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    return (f"{m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB, Linux {m['kernel']}, "
            f"Python {m['python']}, commit {m['commit']}, {m['when_utc']}; fsync of 4 KiB then "
            f"p50 {m['fsync_4k_ms']['p50']} ms / p99 {m['fsync_4k_ms']['p99']} ms; "
            f"CPU stall (PSI avg60) {m.get('cpu_stall_avg60_pct', '-')} %")


def main() -> None:
    lines: list[str] = []
    for name, title in (("a", "(a) realistic event"), ("b", "(b) one room of 1,000"),
                        ("c", "(c) ingest"), ("d", "(d) 10,000 idle connections"),
                        ("e", "(e) Redis, two workers"), ("f", "(f) room page, 500 items")):
        doc = _load(name)
        if doc is None:
            continue
        lines += [f"### {title}", "", f"`{doc['command']}` on {_machine(doc)}", ""]
        if name in ("a", "e"):
            lines += _fanout(doc)
        elif name == "b":
            lines += _fanout(doc, "capacity deliveries/s")
            lines += ["", "Deliveries/s kept up with (nothing lost, whatever the p99): " + ", ".join(
                f"{t} {fmt(r.get('kept_up_deliveries_per_s', '-'))}"
                for t, r in doc["results"].items())]
        elif name == "c":
            lines += _head(["target", "acked submits/s at p99 ack <= 50 ms",
                            "acked submits/s kept up with", "steps run"])
            for t, r in doc["results"].items():
                lines.append(_row([t, r.get("max_acked_per_s", 0),
                                   r.get("kept_up_acked_per_s", "-"), len(r["steps"])]))
        elif name == "d":
            lines += _head(["target", "connected", "connect s", "KB/conn", "server RSS MB",
                            "server CPU % at rest", "errors", "CPU stall %"])
            for t, r in doc["results"].items():
                s = r["steps"][0]
                lines.append(_row([t, r["connect"]["connected"], r["connect"]["connect_s"],
                                   r["kb_per_connection"],
                                   r["rss_connected_mb"], s["server_cpu_pct"],
                                   sum(s["errors"].values()), s["cpu_stall_pct"]]))
        elif name == "f":
            r = doc["results"]["app"]
            lines += _head(["target", "TTFB p50 ms", "TTFB p99 ms", "TTFB max ms",
                            "first load ms", "page KB"])
            t = r["ttfb_ms"]
            lines.append(_row(["app", t["p50"], t["p99"], t["max"], r.get("first_load_ms", "-"),
                               round(r["page_bytes"] / 1024)]))
        ratios = {k: v for k, v in doc.items() if "ratio" in k or k == "redis_adds_ms"}
        lines += ["", f"Target: {_met(doc.get('met'))}. " + (
            "; ".join(f"{k} = {fmt(v)}" for k, v in ratios.items()) if ratios else ""), ""]
    print("\n".join(lines))


if __name__ == "__main__":
    main()

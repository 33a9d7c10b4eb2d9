"""Tables on the terminal and JSON files in benchmarks/results/, with the machine they ran on."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

RESULTS = Path(__file__).resolve().parent / "results"
NOTE = ("2-core machine; the load generator runs on the same machine and shares its CPU "
        "with the server under test; traffic on 127.0.0.1 only")


def fsync_ms(folder: str | None = None, count: int = 200) -> dict[str, float]:
    """How long this disk takes to make 4 KiB durable now: the floor under every stored write."""
    fd, path = tempfile.mkstemp(dir=folder)
    times: list[float] = []
    try:
        for _ in range(count):
            os.write(fd, b"x" * 4096)
            start = time.perf_counter()
            os.fsync(fd)
            times.append((time.perf_counter() - start) * 1000)
    finally:
        os.close(fd)
        os.unlink(path)
    times.sort()
    return {"p50": round(times[count // 2], 2), "p99": round(times[int(count * 0.99)], 2),
            "max": round(times[-1], 2)}


def machine(data_root: str | None = None) -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, cwd=RESULTS.parent, check=False).stdout.strip()
    except OSError:
        commit = ""
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "commit": commit,
        "when_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "niceness": os.getpriority(os.PRIO_PROCESS, 0),
        "fsync_4k_ms": fsync_ms(data_root),
        "cpu_stall_avg60_pct": _psi_avg60(),
        "note": NOTE,
    }


def _psi_avg60() -> float:
    try:
        return float(Path("/proc/pressure/cpu").read_text().split("avg60=")[1].split()[0])
    except (OSError, IndexError, ValueError):
        return float("nan")


def save(scenario: str, command: str, payload: dict[str, Any],
         data_root: str | None = None) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{scenario}.json"
    doc = {"scenario": scenario, "command": command, "machine": machine(data_root), **payload}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)  # never leave a half-written result behind
    return path


def fmt(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # NaN: nothing measured
            return "-"
        return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.2f}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items()) or "0"
    return str(value)


def table(title: str, columns: list[str], rows: list[list[Any]]) -> str:
    cells = [[fmt(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h)
              for i, h in enumerate(columns)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(columns, widths, strict=True)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells]
    return "\n".join([f"\n{title}  ({NOTE})", line, rule, *body])


def ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b and a == a and b == b else float("nan")

"""Where the app's time went: a summary of a py-spy profile in collapsed-stack form.

``python -m benchmarks.run c --profile /tmp/c.txt`` records one; then
``python -m benchmarks.profile /tmp/c.txt`` prints, per function, the share of the
busy samples spent in it and below it (inclusive) and in it alone (self), so that
the causes of a missed target can be named.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

IDLE = ("select (selectors.py", "_worker (concurrent/futures/thread.py",
        "run_forever", "_run_once", "wait (threading.py")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__)
    parser.add_argument("file", type=Path)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--match", default="", help="only functions whose frame contains this")
    args = parser.parse_args(argv)
    inclusive: Counter[str] = Counter()
    alone: Counter[str] = Counter()
    busy = 0
    for line in args.file.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not count.isdigit() or frames[-1].startswith(IDLE):
            continue
        n = int(count)
        busy += n
        alone[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    if not busy:
        print("no busy samples")
        return 1
    print(f"{busy} busy samples")
    print(f"{'incl %':>7} {'self %':>7}  function")
    for frame, n in inclusive.most_common():
        if args.match not in frame:
            continue
        if args.top <= 0:
            break
        args.top -= 1
        print(f"{100 * n / busy:7.1f} {100 * alone[frame] / busy:7.1f}  {frame}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

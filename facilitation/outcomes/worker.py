"""The export helper process: ``python -m facilitation.outcomes.worker``.

Reads requests from standard input and writes answers to standard output, each
an 8-byte big-endian length and a pickle: request ``(board, fmt)``, answer
``("ok", Export)`` or ``("error", message)``. Its parent is the only peer (pickle
between a process and the child it started). It exits when its input closes, so
it never outlives the server.
"""

from __future__ import annotations

import pickle
import signal
import sys
from typing import BinaryIO

from facilitation.outcomes import export


def read_frame(stream: BinaryIO) -> bytes | None:
    header = stream.read(8)
    if len(header) < 8:
        return None
    return stream.read(int.from_bytes(header, "big"))


def frame(payload: bytes) -> bytes:
    return len(payload).to_bytes(8, "big") + payload


def main() -> int:
    # Ctrl+C in the server's terminal reaches this process too; it ends when the server
    # closes its input instead, without a traceback of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    while (request := read_frame(source)) is not None:
        board, fmt = pickle.loads(request)  # noqa: S301 - from our own parent process only
        try:
            answer: tuple[str, object] = ("ok", export(board, fmt))
        except Exception as error:  # noqa: BLE001 - reported to the parent, which logs it
            answer = ("error", f"{type(error).__name__}: {error}")
        sink.write(frame(pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)))
        sink.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m tests.schemathesis_cli ...``: schemathesis' command line, safe with several workers.

Hypothesis describes filter functions by parsing their source with ``ast.parse``,
and on Python 3.11 ``ast.parse`` is not safe to run in several threads at once
(``SystemError: AST constructor recursion depth mismatch``). Schemathesis' workers
are threads, so parsing is serialised here; nothing else changes.
"""

from __future__ import annotations

import ast
import sys
import threading
from typing import Any

_lock = threading.Lock()
_parse = ast.parse


def _serialised_parse(*args: Any, **kwargs: Any) -> Any:
    with _lock:
        return _parse(*args, **kwargs)


ast.parse = _serialised_parse  # type: ignore[assignment]

if __name__ == "__main__":
    from schemathesis.cli import schemathesis

    sys.exit(schemathesis())

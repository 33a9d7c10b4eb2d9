"""Rate limits and socket caps, keyed by browser session or token, never by IP alone.

A whole venue sits behind one NAT address and every member of a room shares one
join link, so neither an address nor a join token identifies a person. What does
is the browser session (the signed cookie's random ``sid``); API clients are
identified by their token. Two buckets guard writes:

- per browser session: what one person can type (``write_rate_per_minute``);
- per token, all its holders together: a generous ceiling that a whole room,
  or a load test driving one join token, stays under (``token_writes_per_second``).

Everything is in-process (per worker): a limit is a guard against abuse, not an
accounting, and a client spread over N workers gets at most N times its share. The
middleware that counts every write, and answers 429, is ``web/guards.py``'s
``WriteLimit``: it tells these buckets who is writing, and nothing here knows HTTP.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from facilitation.config import Settings

# The buckets' clock. A module attribute so that tests can stop time: whether a
# burst is refused must not depend on how fast a loaded machine runs the test.
clock: Callable[[], float] = time.monotonic


@dataclass
class Bucket:
    """A token bucket: ``capacity`` at once, refilled at ``rate`` per second."""

    rate: float
    capacity: float
    tokens: float = -1.0
    stamp: float = field(default_factory=lambda: clock())

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.capacity

    def take(self, now: float | None = None) -> float:
        """Take one; 0 when allowed, else the seconds until one is available."""
        now = clock() if now is None else now
        # Never negative: a clock that went back (a test's stopped clock, restored)
        # must not drain the bucket for good.
        elapsed = max(0.0, now - self.stamp)
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class RateLimiter:
    """Buckets by key, the least recently used dropped beyond ``max_keys``."""

    def __init__(self, rate: float, capacity: float, max_keys: int = 100_000) -> None:
        self.rate = rate
        self.capacity = max(1.0, capacity)
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, Bucket] = OrderedDict()

    def take(self, key: str) -> float:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = Bucket(self.rate, self.capacity)
            if len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket.take()


class Limits:
    """The worker's write buckets and socket counts."""

    def __init__(self, settings: Settings) -> None:
        per_session = settings.write_rate_per_minute / 60
        # A burst of three seconds' worth: a person saving a few edits in a row.
        self.session_writes = RateLimiter(per_session, settings.write_rate_per_minute / 20)
        self.token_writes = RateLimiter(
            settings.token_writes_per_second, 2 * settings.token_writes_per_second)
        self.max_sockets = settings.max_sockets
        self.max_sockets_per_session = settings.max_sockets_per_session
        self.socket_message_rate = settings.socket_messages_per_minute / 60
        self.sockets = 0
        self.sockets_by_session: dict[str, int] = {}

    def take_write(self, sid: str | None, token: str | None) -> tuple[float, str] | None:
        """Count one write by this browser session (its ``sid``) and by its token (a
        fingerprint): None if allowed, else the seconds to wait and why."""
        if sid is not None:
            wait = self.session_writes.take(sid)
            if wait:
                return wait, "You are saving very fast. Wait a moment, then try again."
        if token is not None:
            wait = self.token_writes.take(token)
            if wait:
                return wait, "Too many changes through this link at once. Try again shortly."
        return None

    # -- sockets -----------------------------------------------------------------------

    def open_socket(self, sid: str | None) -> str | None:
        """Count a socket in; the reason it is refused, or None."""
        if self.sockets >= self.max_sockets:
            return "this server has too many open connections"
        if sid is not None:
            open_here = self.sockets_by_session.get(sid, 0)
            if open_here >= self.max_sockets_per_session:
                return "too many open connections from this browser"
            self.sockets_by_session[sid] = open_here + 1
        self.sockets += 1
        return None

    def close_socket(self, sid: str | None) -> None:
        self.sockets -= 1
        if sid is not None:
            left = self.sockets_by_session.get(sid, 1) - 1
            if left > 0:
                self.sockets_by_session[sid] = left
            else:
                self.sockets_by_session.pop(sid, None)

    def message_bucket(self) -> Bucket:
        """One socket's budget of incoming messages (the pages send none today)."""
        return Bucket(self.socket_message_rate, max(10.0, self.socket_message_rate * 10))

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
middleware that counts every write is ``guards.WriteLimit``.
"""

from __future__ import annotations

import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection

from facilitation.errors import TooManyRequests
from facilitation.security import bearer, fingerprint, session_grants

if TYPE_CHECKING:

    from facilitation.config import Settings

# The buckets' clock. A module attribute so that tests can stop time: whether a
# burst is refused must not depend on how fast a loaded machine runs the test.
clock: Callable[[], float] = time.monotonic
EVENT_IN_PATH = re.compile(r"^/(?:api/events|e)/([^/]+)")


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


def session_id(conn: HTTPConnection) -> str | None:
    """The browser session's random id (set when a token link is opened)."""
    if "session" not in conn.scope:
        return None
    sid = conn.session.get("sid")
    return sid if isinstance(sid, str) and sid else None


def token_key(conn: HTTPConnection) -> str | None:
    """The fingerprint of the token behind a request: its bearer token, or the
    session's grant for the event in the path. Valid or not: a flood of made-up
    tokens is bounded by the limiter's size, and answered 401 at once anyway."""
    token = bearer(conn)
    if token is not None:
        return fingerprint(token)
    found = EVENT_IN_PATH.match(conn.url.path)
    if found:
        grant = session_grants(conn).get(found.group(1))
        if isinstance(grant, dict) and grant.get("fp"):
            return str(grant["fp"])
    return None


def too_many(wait: float, message: str) -> TooManyRequests:
    seconds = max(1, math.ceil(wait))
    return TooManyRequests(message, headers={"Retry-After": str(seconds)}, retry_after=seconds)


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

    def check_write(self, conn: HTTPConnection) -> None:
        """Count one write by this browser session and by its token, or raise 429."""
        sid = session_id(conn)
        if sid is not None:
            wait = self.session_writes.take(sid)
            if wait:
                raise too_many(wait, "You are saving very fast. Wait a moment, then try again.")
        token = token_key(conn)
        if token is not None:
            wait = self.token_writes.take(token)
            if wait:
                raise too_many(
                    wait, "Too many changes through this link at once. Try again shortly.")

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

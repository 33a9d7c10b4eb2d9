"""The Redis broker: one pub/sub connection per process, fanned out locally.

Every hub of this process subscribes through ``subscribe``; the broker holds one
Redis connection in subscribed mode, SUBSCRIBEs a channel when it gets its first
local subscriber and UNSUBSCRIBEs it when its last one leaves, and one reader
task copies each message to the local subscriptions (``Fanout``). Browsers never
reach Redis: a thousand sockets on an event are one hub and one subscription.

Redis pub/sub is at-most-once: a message published while this connection is
down, or on a connection that died without a word (a half-open TCP connection,
a frozen server), is gone. So the reader PINGs when the line has been quiet for
``ping_seconds`` and gives the connection up when no answer comes within
``timeout_seconds``; it then reconnects with backoff and resubscribes every
channel. Subscribers are told ``RESYNC`` when the connection is lost (their hubs
check with the store, and close their sockets while it is unreachable) and again
once each channel's new subscription is confirmed, so a hub refills from the
store exactly the changes it missed, after which it can no longer miss any.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from redis.asyncio import ConnectionPool
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from facilitation.broker import RESYNC, Fanout, Subscription
from facilitation.domain import Change
from facilitation.redisclient import CONNECT_TIMEOUT, cancelled_check, make_client

log = logging.getLogger("facilitation.broker.redis")

# Subscribed from the start so the connection is always in subscribed mode, where
# Redis answers PING with a ["pong", ""] message on the same stream.
HEARTBEAT = "facilitation:broker:heartbeat"


class RedisBroker:
    name = "redis"

    def __init__(self, url: str, ping_seconds: float = 5.0, timeout_seconds: float = 3.0) -> None:
        self.url = url
        self.ping_seconds = ping_seconds
        self.timeout_seconds = timeout_seconds
        self.fanout = Fanout()
        self.publisher = make_client(url)
        # The subscriber connection is driven by hand (no pool checkout, no
        # automatic retry or health check): the reader alone decides when it is dead.
        self._pool = ConnectionPool.from_url(
            url, socket_connect_timeout=CONNECT_TIMEOUT, socket_keepalive=True,
            # Bounds the handshake (AUTH, SELECT, ...); reads pass their own timeout.
            socket_timeout=CONNECT_TIMEOUT,
            health_check_interval=0, retry=Retry(NoBackoff(), 0),
        )
        self._conn: AbstractConnection | None = None
        self._confirmed: set[str] = set()
        self._waiting: dict[str, asyncio.Future[None]] = {}
        self._needs_resync: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._up = asyncio.Event()
        self.connections = 0  # how many times the subscriber connection was established

    @property
    def connected(self) -> bool:
        return self._conn is not None

    async def connect(self) -> None:
        self._task = asyncio.create_task(self._run(), name="redis-broker")
        # Give Redis a moment to answer, so the first hubs subscribe at once; but
        # start anyway when it is down (the reader keeps trying; writes answer 503).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._up.wait(), CONNECT_TIMEOUT)

    async def disconnect(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.publisher.aclose()
        await self.publisher.connection_pool.disconnect()

    async def publish(self, channel: str, message: bytes, change: Change | None = None) -> None:
        await self.publisher.publish(channel, message)
        cancelled_check()

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscription]:
        subscription = Subscription(channel)
        first = self.fanout.add(subscription)
        try:
            if first:
                await self._subscribe(channel)
            elif channel in self._waiting:
                await self._confirmation(channel)
            yield subscription
        finally:
            if self.fanout.remove(subscription):
                await self._unsubscribe(channel)

    # -- subscribing -----------------------------------------------------------------

    async def _subscribe(self, channel: str) -> None:
        """SUBSCRIBE and wait for Redis to confirm it, so that whoever reads the
        store after this cannot miss a change published after that read."""
        if channel in self._confirmed:
            return
        self._waiting.setdefault(channel, asyncio.get_running_loop().create_future())
        if not await self._send("SUBSCRIBE", channel):
            # Not connected now: the reader subscribes it when it is, then says RESYNC.
            self._needs_resync.add(channel)
            return
        await self._confirmation(channel)

    async def _confirmation(self, channel: str) -> None:
        waiting = self._waiting.get(channel)
        if waiting is None:
            return
        if self._conn is None:
            # Not connected now: the reader subscribes it when it is, then says RESYNC.
            self._needs_resync.add(channel)
            return
        try:
            await asyncio.wait_for(asyncio.shield(waiting), self.timeout_seconds)
        except TimeoutError:
            # Go on: when the confirmation does come, the subscribers are told RESYNC.
            self._needs_resync.add(channel)

    async def _unsubscribe(self, channel: str) -> None:
        self._confirmed.discard(channel)
        self._needs_resync.discard(channel)
        waiting = self._waiting.pop(channel, None)
        if waiting is not None and not waiting.done():
            waiting.cancel()
        await self._send("UNSUBSCRIBE", channel)

    async def _send(self, *args: str) -> bool:
        conn = self._conn
        if conn is None or not conn.is_connected:
            return False
        try:
            await conn.send_command(*args, check_health=False)
        except (ConnectionError, OSError, TimeoutError, Exception):  # noqa: BLE001
            # The reader notices the broken connection and resubscribes everything.
            cancelled_check()
            return False
        cancelled_check()
        return True

    # -- the reader ------------------------------------------------------------------

    async def _run(self) -> None:
        delay = 0.1
        while True:
            conn: AbstractConnection = self._pool.make_connection()  # type: ignore[no-untyped-call]
            established = False
            try:
                await conn.connect()  # type: ignore[no-untyped-call]
                cancelled_check()
                # Every channel that has local subscribers, plus the heartbeat. From the
                # moment _conn is set, a new subscriber sends its own SUBSCRIBE.
                self._confirmed.clear()
                self._needs_resync.update(self.fanout.channels)
                self._conn = conn
                await conn.send_command("SUBSCRIBE", HEARTBEAT, *self.fanout.channels,
                                        check_health=False)
                cancelled_check()
                established = True
                self._up.set()
                self.connections += 1
                if self.connections > 1:
                    log.warning("redis broker: reconnected; resubscribed %d channels",
                                len(self.fanout.channels))
                delay = 0.1
                await self._read(conn)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - any failure: reconnect
                log.warning("redis broker: connection lost or refused: %s", error)
                cancelled_check()
            finally:
                self._conn = None
                self._up.clear()
                self._confirmed.clear()
                with contextlib.suppress(Exception):
                    await conn.disconnect(nowait=True)
            if established:
                # Messages may have been lost: every subscriber checks with the store now.
                self.fanout.resync_all()
            self._needs_resync.update(self.fanout.channels)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def _read(self, conn: AbstractConnection) -> None:
        loop = asyncio.get_running_loop()
        heard = loop.time()
        pinged: float | None = None
        poll = min(self.ping_seconds, self.timeout_seconds) / 2
        while True:
            response = await conn.read_response(timeout=poll, push_request=True)
            cancelled_check()
            now = loop.time()
            if response is None:
                if pinged is not None and now - pinged > self.timeout_seconds:
                    raise ConnectionError("Redis did not answer PING: the connection is dead")
                if pinged is None and now - heard > self.ping_seconds:
                    await conn.send_command("PING", check_health=False)
                    cancelled_check()
                    pinged = now
                continue
            heard, pinged = now, None
            self._handle(response)

    def _handle(self, response: Any) -> None:
        if not isinstance(response, list) or not response:
            return
        kind = response[0]
        if kind == b"message":
            self.fanout.deliver(response[1].decode(), response[2])
        elif kind == b"subscribe":
            channel = response[1].decode()
            if channel == HEARTBEAT:
                return
            self._confirmed.add(channel)
            waiting = self._waiting.pop(channel, None)
            if waiting is not None and not waiting.done():
                waiting.set_result(None)
            if channel in self._needs_resync:
                self._needs_resync.discard(channel)
                self.fanout.deliver(channel, RESYNC)
        elif kind == b"unsubscribe":
            self._confirmed.discard(response[1].decode())

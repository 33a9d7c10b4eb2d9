"""The Redis client settings and guards that the Redis store and broker share.

Its own module so that the broker does not import the store (nor the store the
broker): both stand on this.
"""

from __future__ import annotations

import asyncio

from redis import exceptions as redis_errors
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

# Seconds: a command that takes longer is treated as Redis being unreachable
# (a 503 the client may retry: every write is idempotent).
SOCKET_TIMEOUT = 5.0
CONNECT_TIMEOUT = 2.0
# An idle pooled connection is PINGed before reuse after this long, so a
# connection Redis (or a firewall) dropped is replaced instead of failing a write.
HEALTH_CHECK_SECONDS = 10
MAX_CONNECTIONS = 64


def cancelled_check() -> None:
    """Raise CancelledError if this task was cancelled while awaiting Redis.

    redis-py's asyncio client (8.1) sometimes swallows a task's cancellation inside a
    command (in ``send_command``/``read_response``: reproduced with 10 to 30 of 200
    cancels). The command then returns normally and the cancelled task carries on,
    e.g. a closed socket's sender waits forever. ``Task.cancelling()`` still counts
    the request, so every await on Redis is followed by this check.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def make_client(url: str) -> Redis:
    """A client whose failures are quick and visible: one retry on a broken
    pooled connection (every write is idempotent), bounded waits everywhere."""
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=MAX_CONNECTIONS,
        timeout=SOCKET_TIMEOUT,
        socket_timeout=SOCKET_TIMEOUT,
        socket_connect_timeout=CONNECT_TIMEOUT,
        socket_keepalive=True,
        health_check_interval=HEALTH_CHECK_SECONDS,
        retry=Retry(NoBackoff(), 1, supported_errors=(redis_errors.ConnectionError,)),
    )
    return Redis(connection_pool=pool)

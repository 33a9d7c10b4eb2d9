"""The in-process broker: one worker, no network, nothing to lose."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from facilitation.broker import Fanout, Subscription


class MemoryBroker:
    name = "memory"

    def __init__(self) -> None:
        self.fanout = Fanout()

    async def connect(self) -> None:
        pass

    async def disconnect(self) -> None:
        pass

    async def publish(self, channel: str, message: bytes) -> None:
        self.fanout.deliver(channel, message)

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscription]:
        subscription = Subscription(channel)
        self.fanout.add(subscription)
        try:
            yield subscription
        finally:
            self.fanout.remove(subscription)

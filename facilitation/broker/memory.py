"""The in-process broker: one worker, no network, nothing to lose."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from facilitation.broker import Fanout, Subscription
from facilitation.domain import Change


class MemoryBroker:
    name = "memory"

    def __init__(self) -> None:
        self.fanout = Fanout()

    async def connect(self) -> None:
        pass

    async def disconnect(self) -> None:
        pass

    async def publish(self, channel: str, message: bytes, change: Change | None = None) -> None:
        # In one process the change itself is handed over: nothing to decode.
        self.fanout.deliver(channel, message if change is None else change)

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscription]:
        subscription = Subscription(channel)
        self.fanout.add(subscription)
        try:
            yield subscription
        finally:
            self.fanout.remove(subscription)

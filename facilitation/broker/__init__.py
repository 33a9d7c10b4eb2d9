"""The Broker protocol: publish/subscribe between the store and each worker's hubs.

Modelled on encode/broadcaster: one small interface, a memory and a Redis
implementation chosen by URL, and fan-out to per-subscriber queues in one place.
Subscribers here are the per-event hubs of a worker (one per event), never
browsers: a thousand sockets on an event share one subscription.

A subscription yields each message: its bytes, or, from a broker within the
process, the ``Change`` the publisher handed over with them (so a change is
encoded once and never decoded on the embedded path); or ``RESYNC`` when the
broker lost its connection and may have dropped messages, and the subscriber
refills from the store (pub/sub is at-most-once).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Final, Protocol

from facilitation.domain import Change

if TYPE_CHECKING:
    from facilitation.config import Settings

RESYNC: Final = b""

# What a subscription yields: the message's bytes, or the change it encodes.
Message = bytes | Change


class Subscription:
    """What a subscriber reads from: its own queue, filled by the broker's fan-out."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.queue: asyncio.Queue[Message] = asyncio.Queue()

    async def __aiter__(self) -> AsyncIterator[Message]:
        while True:
            yield await self.queue.get()


class Fanout:
    """Channel -> subscriptions, the one place messages are copied to subscribers."""

    def __init__(self) -> None:
        self.channels: dict[str, set[Subscription]] = {}

    def add(self, subscription: Subscription) -> bool:
        """Register; True when it is the channel's first subscriber."""
        subscribers = self.channels.setdefault(subscription.channel, set())
        subscribers.add(subscription)
        return len(subscribers) == 1

    def remove(self, subscription: Subscription) -> bool:
        """Unregister; True when the channel has no subscriber left."""
        subscribers = self.channels.get(subscription.channel)
        if subscribers is None:
            return False
        subscribers.discard(subscription)
        if not subscribers:
            del self.channels[subscription.channel]
            return True
        return False

    def deliver(self, channel: str, message: Message) -> None:
        for subscription in self.channels.get(channel, ()):
            subscription.queue.put_nowait(message)

    def resync_all(self) -> None:
        for subscriptions in self.channels.values():
            for subscription in subscriptions:
                subscription.queue.put_nowait(RESYNC)


class Broker(Protocol):
    name: str

    async def connect(self) -> None: ...

    async def disconnect(self) -> None: ...

    async def publish(self, channel: str, message: bytes, change: Change | None = None) -> None:
        """Send ``message`` to every subscriber of ``channel``; ``change``, when given,
        is the message decoded, for subscribers in this process."""

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[Subscription]: ...


def create_broker(settings: Settings) -> Broker:
    if settings.redis_url:
        from facilitation.broker.redis import RedisBroker

        return RedisBroker(settings.redis_url)
    from facilitation.broker.memory import MemoryBroker

    return MemoryBroker()

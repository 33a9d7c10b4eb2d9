"""A deadline for a request's head: slow clients cannot hold connections open.

uvicorn closes a keep-alive connection that stays idle, but has no limit on how
long a request line and its headers may take to arrive: a client that sends one
header byte every few seconds (Slowloris) held 50 connections for as long as it
liked. This is uvicorn's httptools protocol (what it picks by default) with one
timer: from the connection's start, and again from the first byte of each
request, the whole head must arrive within ``HEAD_SECONDS``, else the server
answers 408 and closes. Bodies are bounded by size (guards.BodyLimit) and
websockets by pings, once their head has arrived.

``facilitation serve`` runs uvicorn with ``http="facilitation.web.httpguard:HeadTimeoutProtocol"``;
behind a reverse proxy, the proxy's own setting does the same for its side
(nginx ``client_header_timeout``, HAProxy ``timeout http-request``).
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# Long enough for a phone on a bad conference Wi-Fi, short enough that a slow client
# holds a connection for seconds, not for ever.
HEAD_SECONDS = 10.0
ANSWER = b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"


class HeadTimeoutProtocol(HttpToolsProtocol):
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()  # each request of a keep-alive connection gets its own deadline

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_websocket_upgrade(self) -> None:
        super().handle_websocket_upgrade()
        # This protocol is done: the websocket's has the connection. Its parser holds
        # it (and it the parser), a cycle only a full garbage collection would free;
        # uvicorn drops the parser the same way when an HTTP connection is lost.
        self.parser = None  # type: ignore[assignment]

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(HEAD_SECONDS, self._too_slow)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _too_slow(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.write(ANSWER)
            self.transport.close()

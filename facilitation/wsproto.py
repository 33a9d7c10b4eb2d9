"""A direct write path from a hub to its sockets, beside the ASGI one.

A change is rendered once per worker; sending it through ASGI would then cost
a Starlette and uvicorn round of awaits *per socket*. Under uvicorn's sans-I/O
websockets protocol, a server text frame is plain bytes (servers never mask),
so the hub encodes the frame once and writes the same bytes to each socket's
transport, as ``websockets.broadcast`` does. The protocol class below only adds
itself to the ASGI scope; everything else (handshake, pings, close, receive)
stays uvicorn's. Without it (another server), sockets use the ASGI path.

The transport's own buffer is the per-socket bound: a socket whose unsent
bytes pass the limit is closed (1013) and catches up when it reconnects.

``DirectWriter.close`` uses the sans-I/O protocol's attributes (``conn``,
``close_sent``, ``queue``, ``read_paused``, ``close_timer``, ``transport``,
``loop``): uvicorn's internals, as used here from 0.53 (the first release whose
own close keeps ``close_timer`` and that answers a refused handshake properly)
to 0.55. pyproject.toml bounds uvicorn to that range; a new release is admitted
once the stream and socket tests pass on it (CI also runs them on the lowest
allowed versions, see .ci/run).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode

SCOPE_KEY = "facilitation.direct"

# The websockets library's own lines for each socket ("connection open", "connection
# closed"): at ``info`` they repeat uvicorn's access line for the same socket
# ('"WebSocket /api/..." [accepted]'), and a reconnect storm of a thousand sockets paid
# for both (7 % of the server's busy samples, benchmarks/README.md). cli.log_config
# shows them only at ``debug``; the library's errors still show at every level.
SOCKET_LOG = logging.getLogger("facilitation.websocket")


class DirectWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's protocol, announcing itself in the scope for direct writes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn.logger = SOCKET_LOG

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][SCOPE_KEY] = {"writer": DirectWriter(self)}

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        # The scope holds the writer and the writer this protocol: without this, every
        # closed socket is a reference cycle that only a full garbage collection frees
        # (with uvicorn's and Starlette's objects of the connection hanging on it).
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"].pop(SCOPE_KEY, None)

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.http.response.body" and not message.get("more_body"):
            # A refused handshake (our 401/403/404) is complete once its answer is out;
            # uvicorn's sans-I/O protocol forgets to say so and logs an error for every
            # refusal (the fix proposed upstream, uvicorn PR #3138, does the same).
            self.handshake_complete = True


@dataclass(frozen=True)
class DirectWriter:
    protocol: WebSocketsSansIOProtocol

    def write(self, frame: bytes) -> bool:
        """Queue one encoded frame; False when the socket is closing."""
        transport = self.protocol.transport
        if self.protocol.close_sent or transport.is_closing():
            return False
        transport.write(frame)
        return True

    def close(self, code: int, reason: str, abort_after: float) -> None:
        """Close now, even when this socket's writes are stuck behind a full buffer.

        The close frame queues behind what was already written: a slow reader
        still gets it (and its code) in order; a reader that has stopped is cut
        off after ``abort_after`` seconds instead of holding the buffer forever.
        The same steps as uvicorn's own ``websocket.close``, minus its wait for
        the buffer to drain, which is exactly what a stalled reader never does.
        """
        protocol = self.protocol
        if protocol.close_sent or protocol.transport.is_closing():
            return
        protocol.conn.send_close(code, reason)
        protocol.transport.write(b"".join(protocol.conn.data_to_send()))
        protocol.close_sent = True
        protocol.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        if protocol.read_paused:
            protocol.read_paused = False
            protocol.transport.resume_reading()
        protocol.close_timer = protocol.loop.call_later(abort_after, protocol.transport.abort)

    def backlog(self) -> int:
        """Bytes written but not yet sent to the client."""
        return int(self.protocol.transport.get_write_buffer_size())


def writer_of(scope: Mapping[str, Any]) -> DirectWriter | None:
    extension = scope.get("extensions", {}).get(SCOPE_KEY)
    return extension["writer"] if extension else None


def text_frame(text: str) -> bytes:
    """One unmasked, unfragmented websocket text frame (servers never mask), as the
    websockets library serializes it: the same bytes uvicorn's protocol would send."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


def text_of(frame: bytes) -> str:
    """The text of a frame made by ``text_frame``: for sockets sent through ASGI."""
    length = frame[1] & 0x7F
    return frame[2 + {126: 2, 127: 8}.get(length, 0):].decode()

"""A small TCP proxy for fault tests: cut, delay, throttle, stall and black-hole links.

It runs in the test's event loop on 127.0.0.1 and forwards each accepted
connection to a target port. Every knob acts on live connections at once:

- ``delay``: seconds added to each chunk, each way (latency);
- ``rate``: bytes per second, each way (a congested link);
- ``stall_down``: stop reading from the server (the client stops reading: the
  server's buffers fill, as with a frozen tab);
- ``blackhole``: forward nothing either way and keep the sockets open (a
  half-open connection: Wi-Fi gone without a FIN or RST);
- ``refuse``: close new connections at once (a worker that is down);
- ``cut()``: reset every open connection (RST, as a dropped access point does).

The proxy keeps its own buffers tiny (4 KiB socket buffers, 4 KiB stream
limits) so that backpressure reaches the server as it would over a real link.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from dataclasses import dataclass, field

SMALL = 4096


@dataclass(eq=False)
class Link:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def reset(self) -> None:
        for writer in (self.client, self.upstream):
            sock = writer.get_extra_info("socket")
            if sock is not None:
                # SO_LINGER 0: close() sends RST instead of FIN.
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        for task in self.tasks:
            task.cancel()


class Proxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.delay = 0.0
        self.rate: float | None = None
        self.stall_down = False
        self.blackhole = False
        self.refuse = False
        self.links: set[Link] = set()
        self.accepted = 0
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def start(self) -> Proxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0, limit=SMALL)
        return self

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def cut(self) -> None:
        """Reset every open connection; new ones are accepted as usual."""
        for link in list(self.links):
            link.reset()
        self.links.clear()

    def heal(self) -> None:
        self.delay, self.rate = 0.0, None
        self.stall_down = self.blackhole = self.refuse = False

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.refuse:
            writer.transport.abort()
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # Small buffers before connect (window scaling is fixed at the handshake).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL)
        sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", self.target_port))
        except OSError:
            sock.close()
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection(sock=sock, limit=SMALL)
        link = Link(writer, up_writer)
        self.links.add(link)
        link.tasks = [
            asyncio.create_task(self._pipe(reader, up_writer, down=False)),
            asyncio.create_task(self._pipe(up_reader, writer, down=True)),
        ]
        with contextlib.suppress(asyncio.CancelledError):
            # Either direction ending (EOF, reset, cut) ends the link.
            await asyncio.wait(link.tasks, return_when=asyncio.FIRST_EXCEPTION)
            await asyncio.gather(*link.tasks, return_exceptions=True)
        for task in link.tasks:
            task.cancel()
        self.links.discard(link)
        for w in (writer, up_writer):
            w.transport.abort()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, down: bool
    ) -> None:
        while True:
            # The knobs are plain attributes a test flips; polling them is enough here.
            while self.blackhole or (down and self.stall_down):  # noqa: ASYNC110
                await asyncio.sleep(0.02)  # not reading: backpressure to the sender
            data = await reader.read(SMALL)
            if not data:
                with contextlib.suppress(OSError):
                    writer.write_eof()
                return
            while self.blackhole:  # noqa: ASYNC110
                await asyncio.sleep(0.02)  # what was in flight is held, not delivered
            if self.delay:
                await asyncio.sleep(self.delay)
            if self.rate:
                await asyncio.sleep(len(data) / self.rate)
            writer.write(data)
            await writer.drain()

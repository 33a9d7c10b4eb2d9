"""Websocket streams: catch up from a sequence number, then stream live.

The same loop serves the API stream (JSON frames) and the pages (htmx
fragments): only the view differs. A socket attaches to its event's hub
*before* anything is read, and is caught up by the hub from what it keeps for
every socket (``EventHub.catch_up``): its recent changes in memory, older ones
from store pages read once for all. The last part of the catch-up and the
switch to live happen in one loop turn, so nothing is sent twice and nothing
is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from facilitation.access import still_valid
from facilitation.hub import CLOSE_TRY_AGAIN, Listener
from facilitation.web.security import session_id
from facilitation.wsproto import text_of, writer_of

if TYPE_CHECKING:
    from facilitation.access import Access
    from facilitation.hub import EventHub
    from facilitation.limits import Bucket
    from facilitation.services import Services

log = logging.getLogger("facilitation.live")

# Close codes the pages understand (see static/app.js; the others are in hub.py).
CLOSE_POLICY = 1008

# Seconds a socket that stopped reading gets to take its close frame before it is cut off.
CLOSE_TIMEOUT = 5.0


async def stream(
    websocket: WebSocket,
    services: Services,
    event_id: str,
    view: str,
    room: str | None,
    after: int,
    epoch: str | None = None,
    *,
    access: Access,
) -> None:
    """Send every change after ``after`` that this socket may see, then live ones.

    ``access`` is who opened the socket: the socket is closed (4401) as soon as
    the token behind it is rotated, on whichever worker the rotation happened.
    ``epoch`` is the event's epoch as the client last knew it. A client whose
    epoch differs, or that saw more than the store holds, has a board from a
    store that was reset or replaced: replaying would show it a wrong board, so
    it is told to load afresh (the reset frame) instead.
    """
    sid = session_id(websocket)
    refused = services.limits.open_socket(sid)
    if refused is not None:
        await _close(websocket, CLOSE_TRY_AGAIN, refused)
        return
    try:
        await _stream(websocket, services, event_id, view, room, after, epoch, access)
    finally:
        services.limits.close_socket(sid)


async def _stream(
    websocket: WebSocket,
    services: Services,
    event_id: str,
    view: str,
    room: str | None,
    after: int,
    epoch: str | None,
    access: Access,
) -> None:
    listener = Listener(view, room, after, limit=services.settings.socket_buffer,
                        direct=writer_of(websocket.scope), access=access)
    pump: asyncio.Task[None] | None = None

    def close_now(code: int, reason: str) -> None:
        # Nothing more is sent: the pump may be stuck on a full buffer, so it is
        # stopped rather than waited for, and the close frame queues behind what
        # was already written.
        if pump is not None:
            pump.cancel()
        if listener.direct is not None:
            listener.direct.close(code, reason, CLOSE_TIMEOUT)
        else:
            _spawn(_close_within(websocket, code, reason))

    listener.closer = close_now
    try:
        # Attached before anything is read: from here on the hub keeps every change
        # this socket may need (in its window, or past it in the store).
        hub = await services.hubs.join(event_id, listener)
    except Exception as failure:  # noqa: BLE001 - the store is unreachable: try again later
        log.warning("stream for event %s refused: %r", event_id, failure)
        await _close(websocket, CLOSE_TRY_AGAIN, "store unavailable; reconnect shortly")
        return
    try:
        if await _must_reload(websocket, services, hub, view, after, epoch):
            return
        # A rotation that landed between the handshake's check and the attach above
        # was not seen by the hub for this socket: look once more now.
        await _check_access_again(services, event_id, listener)
        if not listener.closed_reason and not hub.resume(listener):
            pump = asyncio.create_task(_pump(websocket, services, hub, listener))
            pump.add_done_callback(lambda task: _pump_ended(task, listener, event_id))
        # This task only reads from here on: a disconnect is noticed at once, and
        # a socket that went live on the direct path has no other task at all.
        await _drain(websocket, services.limits.message_bucket(), listener)
    finally:
        if pump is not None:
            pump.cancel()
            with contextlib.suppress(BaseException):
                await pump
        services.hubs.detach(hub, listener)
        # close_now holds the listener, and the listener close_now: a reference cycle
        # per socket, freed only by a full garbage collection, with the socket's
        # objects hanging on it. Nothing closes it through the hub from here on.
        listener.closer = None


async def _must_reload(websocket: WebSocket, services: Services, hub: EventHub, view: str,
                       after: int, epoch: str | None) -> bool:
    """True (and the reset frame sent) when the client's board is from a store that
    was reset or replaced: replaying onto it would show a wrong board, so it loads
    afresh instead. Also True (and the socket closed) when the store cannot say."""
    try:
        # This worker's hub may trail another worker's by a message in flight, so
        # only the store can say that the client saw more than there is.
        beyond = after > hub.board.seq and not await services.store.changes_after(
            hub.event_id, after - 1, 1)
    except Exception as failure:  # noqa: BLE001 - the store is unreachable: try again later
        log.warning("stream for event %s refused: %r", hub.event_id, failure)
        await _close(websocket, CLOSE_TRY_AGAIN, "store unavailable; reconnect shortly")
        return True
    current_epoch = str(hub.board.event.get("epoch", ""))
    if not beyond and not (epoch and current_epoch and epoch != current_epoch):
        return False
    log.info("event %s: a client at seq %s must reload", hub.event_id, after)
    await websocket.send_text(services.renderer.reset_frame(view, hub.board.seq, current_epoch))
    await _close(websocket, CLOSE_POLICY, "reload")
    return True


async def _check_access_again(services: Services, event_id: str, listener: Listener) -> None:
    try:
        current = await services.store.secrets(event_id)
    except Exception:  # noqa: BLE001 - cannot check now: the page comes back shortly
        listener.close("store unavailable; reconnect shortly", CLOSE_TRY_AGAIN)
        return
    if current is None or listener.access is None or not still_valid(listener.access, current):
        listener.revoke()


async def _pump(websocket: WebSocket, services: Services, hub: EventHub, listener: Listener) -> None:
    """Catch the socket up from what the hub keeps for every socket; on the direct
    path the hub writes to it from then on and this ends. Without a direct writer
    (another server than uvicorn), keep sending each change as the hub announces it."""
    if listener.direct is not None:
        await hub.catch_up(listener)
        return

    async def send(frames: list[bytes]) -> None:
        for frame in frames:
            await websocket.send_text(text_of(frame))

    heartbeat = services.settings.heartbeat_seconds
    while not listener.closed_reason:
        listener.wakeup.clear()  # before the catch-up: a change during it wakes us again
        await hub.catch_up(listener, send)
        if listener.last < hub.board.seq:
            continue
        try:
            await asyncio.wait_for(listener.wakeup.wait(), heartbeat)
        except TimeoutError:
            beat = services.renderer.heartbeat_frame(listener.view, listener.last)
            if beat is not None:
                await websocket.send_text(beat)


def _pump_ended(task: asyncio.Task[None], listener: Listener, event_id: str) -> None:
    if task.cancelled():
        return
    ended = task.exception()
    if ended is None or isinstance(ended, WebSocketDisconnect | OSError):
        return  # live on the direct path, or the client left (the reader sees that too)
    log.warning("stream for event %s ended: %r", event_id, ended)
    # Most often the store is unreachable: the client reconnects and catches up.
    listener.close("stream interrupted; reconnect", CLOSE_TRY_AGAIN)


async def _drain(websocket: WebSocket, budget: Bucket, listener: Listener) -> None:
    """Read (and ignore) what the client sends until the socket is closed.

    Nothing a client sends changes anything (writes go through HTTP, where each
    one is authorised); a client that floods the socket is closed with 1008.
    Frames over the size limit never get here: uvicorn closes them with 1009.
    """
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        if budget.take():
            listener.close("too many messages", CLOSE_POLICY)


# Closes under way on the ASGI path (no direct writer): kept so they are not collected.
_closing: set[asyncio.Task[None]] = set()


def _spawn(close: Coroutine[Any, Any, None]) -> None:
    task = asyncio.ensure_future(close)
    _closing.add(task)
    task.add_done_callback(_closing.discard)


async def _close_within(websocket: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(_close(websocket, code, reason), CLOSE_TIMEOUT)


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    if websocket.application_state == WebSocketState.CONNECTED:
        with contextlib.suppress(Exception):
            await websocket.close(code=code, reason=reason[:120])

"""Websocket streams: catch up from a sequence number, then stream live.

The same loop serves the API stream (JSON frames) and the pages (htmx
fragments): only the view differs. A socket attaches to its event's hub
*before* reading what it missed from the store, so a change stored while it
connects is either in the replay or in its queue; sequence numbers drop the
overlap. Nothing is sent twice and nothing is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from facilitation.hub import CLOSE_TRY_AGAIN, Listener
from facilitation.limits import session_id
from facilitation.security import still_valid
from facilitation.wsproto import writer_of

if TYPE_CHECKING:
    from facilitation.hub import EventHub
    from facilitation.limits import Bucket
    from facilitation.security import Access
    from facilitation.services import Services

log = logging.getLogger("facilitation.live")

REPLAY_PAGE = 500

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
    try:
        hub = await services.hubs.get(event_id)
        # This worker's hub may trail another worker's by a message in flight, so
        # only the store can say that the client saw more than there is.
        beyond = after > hub.board.seq and not await services.store.changes_after(
            event_id, after - 1, 1)
    except Exception as failure:  # noqa: BLE001 - the store is unreachable: try again later
        log.warning("stream for event %s refused: %r", event_id, failure)
        await _close(websocket, CLOSE_TRY_AGAIN, "store unavailable; reconnect shortly")
        return
    current_epoch = str(hub.board.event.get("epoch", ""))
    if beyond or (epoch and current_epoch and epoch != current_epoch):
        # The client's board is from a store that was reset or replaced: replaying
        # onto it would show a wrong board. It loads afresh instead.
        log.info("event %s: a client at seq %s must reload", event_id, after)
        await websocket.send_text(
            services.renderer.reset_frame(view, hub.board.seq, current_epoch))
        await _close(websocket, CLOSE_POLICY, "reload")
        return
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
    services.hubs.attach(hub, listener)
    services.sockets.add(listener)
    try:
        # A rotation that landed between the handshake's check and the attach above
        # was not seen by the hub for this socket: look once more now.
        await _check_access_again(services, event_id, listener)
        if not listener.closed_reason:
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
        services.sockets.discard(listener)


async def _check_access_again(services: Services, event_id: str, listener: Listener) -> None:
    try:
        current = await services.store.secrets(event_id)
    except Exception:  # noqa: BLE001 - cannot check now: the page comes back shortly
        listener.close("store unavailable; reconnect shortly", CLOSE_TRY_AGAIN)
        return
    if current is None or listener.access is None or not still_valid(listener.access, current):
        listener.revoke()


async def _pump(websocket: WebSocket, services: Services, hub: EventHub, listener: Listener) -> None:
    """Send what the socket missed and what queues meanwhile; once caught up, hand
    the socket to the hub's direct path and end (or, without one, keep sending)."""
    await _replay(websocket, services, hub, listener)
    heartbeat = services.settings.heartbeat_seconds
    while True:
        while listener.pending:
            seq, frame = listener.pending.popleft()
            if seq <= listener.last:
                continue
            await websocket.send_text(frame)
            listener.last = seq
        if listener.direct is not None:
            # Caught up and nothing queued: the hub now writes to this socket
            # directly (no await between the last check and this switch).
            listener.live = True
            return
        try:
            await asyncio.wait_for(listener.wakeup.wait(), heartbeat)
        except TimeoutError:
            beat = services.renderer.heartbeat_frame(listener.view, listener.last)
            if beat is not None:
                await websocket.send_text(beat)
            continue
        listener.wakeup.clear()


async def _replay(websocket: WebSocket, services: Services, hub: EventHub, listener: Listener) -> None:
    """What the store holds beyond ``listener.last``, up to the hub's board.

    Attached to the hub already: whatever the store holds beyond the hub's board
    reaches this socket through the hub, in order. So a socket that has seen all
    the hub has (a reconnect storm's usual case) needs no read from the store.
    (Its own function, so that what it read is not kept for the socket's life.)
    """
    while listener.last < hub.board.seq:
        missed = await services.store.changes_after(hub.event_id, listener.last, REPLAY_PAGE)
        for change in missed:
            if listener.may_see(change):
                frame = services.renderer.frame(change, hub.board, listener.view)
                if frame is not None:
                    await websocket.send_text(frame)
            listener.last = change.seq
        if len(missed) < REPLAY_PAGE:
            return


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

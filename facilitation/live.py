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
from typing import TYPE_CHECKING

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from facilitation.hub import CLOSE_REVOKED, Listener
from facilitation.limits import session_id
from facilitation.security import still_valid
from facilitation.wsproto import text_frame, writer_of

if TYPE_CHECKING:
    from facilitation.limits import Bucket
    from facilitation.security import Access
    from facilitation.services import Services

log = logging.getLogger("facilitation.live")

REPLAY_PAGE = 500

# Close codes the pages understand (see static/app.js).
CLOSE_GOING_AWAY = 1001
CLOSE_SERVICE_RESTART = 1012
CLOSE_TRY_AGAIN = 1013
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
    services.hubs.attach(hub, listener)
    services.sockets.add(listener)
    # A rotation that landed between the handshake's check and the attach above
    # was not seen by the hub for this socket: look once more now.
    try:
        current = await services.store.secrets(event_id)
    except Exception:  # noqa: BLE001 - cannot check now: the page comes back shortly
        listener.close("store unavailable; reconnect shortly", CLOSE_TRY_AGAIN)
    else:
        if current is None or not still_valid(access, current):
            listener.revoke()
    receiver = asyncio.create_task(_drain(websocket, services.limits.message_bucket()))
    sender = asyncio.create_task(_pump(websocket, services, event_id, listener))
    behind = asyncio.create_task(listener.behind.wait())
    try:
        done, _ = await asyncio.wait(
            {receiver, sender, behind}, return_when=asyncio.FIRST_COMPLETED)
        for task in done - {behind}:
            ended = task.exception()
            if ended is not None and not isinstance(ended, WebSocketDisconnect | OSError):
                log.warning("stream for event %s ended: %r", event_id, ended)
                # Most often the store is unreachable: the client reconnects and catches up.
                await _close(websocket, CLOSE_TRY_AGAIN, "stream interrupted; reconnect")
        if listener.overflowed:
            # Too far behind. A send to it may be stuck on a full buffer: stop it
            # rather than wait; the client reconnects and catches up from the store.
            sender.cancel()
            with contextlib.suppress(BaseException):
                await sender
            await _close_now(websocket, listener)
    finally:
        for task in (receiver, sender, behind):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        services.hubs.detach(hub, listener)
        services.sockets.discard(listener)


async def _pump(websocket: WebSocket, services: Services, event_id: str, listener: Listener) -> None:
    hub = await services.hubs.get(event_id)
    # Attached to the hub already: whatever the store holds beyond the hub's board
    # reaches this socket through the hub, in order. So a socket that has seen all
    # the hub has (a reconnect storm's usual case) needs no read from the store.
    while not listener.revoked and listener.last < hub.board.seq:
        missed = await services.store.changes_after(event_id, listener.last, REPLAY_PAGE)
        for change in missed:
            if listener.may_see(change):
                frame = services.renderer.frame(change, hub.board, listener.view)
                if frame is not None:
                    await websocket.send_text(frame)
            listener.last = change.seq
        if len(missed) < REPLAY_PAGE:
            break
    heartbeat = services.settings.heartbeat_seconds
    while True:
        if listener.revoked:
            await _close(websocket, CLOSE_REVOKED, listener.closed_reason)
            return
        if listener.overflowed:
            return  # _stream closes it at once
        while listener.pending:
            seq, frame = listener.pending.popleft()
            if seq <= listener.last:
                continue
            await websocket.send_text(frame)
            listener.last = seq
        if listener.closed_reason:
            await _close(websocket, listener.close_code, listener.closed_reason)
            return
        # Caught up and nothing queued: the hub may now write to this socket
        # directly (no await between the last check and this switch).
        if listener.direct is not None:
            listener.live = True
        try:
            await asyncio.wait_for(listener.wakeup.wait(), heartbeat)
        except TimeoutError:
            await _heartbeat(websocket, services, listener)
            continue
        listener.wakeup.clear()


async def _heartbeat(websocket: WebSocket, services: Services, listener: Listener) -> None:
    """A quiet page gets its own resume marker again, so it can tell a quiet
    link from a dead one (browsers never show websocket pings to scripts)."""
    beat = services.renderer.heartbeat_frame(listener.view, listener.last)
    if beat is None:
        return
    if listener.live and listener.direct is not None:
        # In order with the hub's direct writes; never behind a newer frame.
        listener.direct.write(text_frame(beat))
    else:
        await websocket.send_text(beat)


async def _close_now(websocket: WebSocket, listener: Listener) -> None:
    reason = "too far behind; reconnect to catch up"
    if listener.direct is not None:
        listener.direct.close(CLOSE_TRY_AGAIN, reason, CLOSE_TIMEOUT)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(_close(websocket, CLOSE_TRY_AGAIN, reason), CLOSE_TIMEOUT)


async def _drain(websocket: WebSocket, budget: Bucket) -> None:
    """Read (and ignore) what the client sends, so a disconnect is noticed at once.

    Nothing a client sends changes anything (writes go through HTTP, where each
    one is authorised); a client that floods the socket is closed with 1008.
    Frames over the size limit never get here: uvicorn closes them with 1009.
    """
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        if budget.take():
            await _close(websocket, CLOSE_POLICY, "too many messages")
            return


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    if websocket.application_state == WebSocketState.CONNECTED:
        with contextlib.suppress(Exception):
            await websocket.close(code=code, reason=reason[:120])

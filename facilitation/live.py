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
from facilitation.wsproto import writer_of

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


async def stream(
    websocket: WebSocket,
    services: Services,
    event_id: str,
    view: str,
    room: str | None,
    after: int,
    *,
    access: Access,
) -> None:
    """Send every change after ``after`` that this socket may see, then live ones.

    ``access`` is who opened the socket: the socket is closed (4401) as soon as
    the token behind it is rotated, on whichever worker the rotation happened.
    """
    sid = session_id(websocket)
    refused = services.limits.open_socket(sid)
    if refused is not None:
        await _close(websocket, CLOSE_TRY_AGAIN, refused)
        return
    try:
        await _stream(websocket, services, event_id, view, room, after, access)
    finally:
        services.limits.close_socket(sid)


async def _stream(
    websocket: WebSocket,
    services: Services,
    event_id: str,
    view: str,
    room: str | None,
    after: int,
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
    if beyond:
        # The client saw more than this store holds: the store was reset or
        # replaced. Its board is wrong; tell it to load afresh.
        await websocket.send_text(services.renderer.reset_frame(view, hub.board.seq))
        await websocket.close(code=CLOSE_POLICY, reason="reload")
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
    try:
        done, _ = await asyncio.wait({receiver, sender}, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            error = task.exception()
            if error is not None and not isinstance(error, WebSocketDisconnect | OSError):
                log.warning("stream for event %s ended: %r", event_id, error)
                # Most often the store is unreachable: the client reconnects and catches up.
                await _close(websocket, CLOSE_TRY_AGAIN, "stream interrupted; reconnect")
    finally:
        for task in (receiver, sender):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        services.hubs.detach(hub, listener)
        services.sockets.discard(listener)


async def _pump(websocket: WebSocket, services: Services, event_id: str, listener: Listener) -> None:
    hub = await services.hubs.get(event_id)
    while not listener.revoked:
        missed = await services.store.changes_after(event_id, listener.last, REPLAY_PAGE)
        for change in missed:
            if listener.may_see(change):
                frame = services.renderer.frame(change, hub.board, listener.view)
                if frame is not None:
                    await websocket.send_text(frame)
            listener.last = change.seq
        if len(missed) < REPLAY_PAGE:
            break
    while True:
        if listener.revoked:
            await _close(websocket, CLOSE_REVOKED, listener.closed_reason)
            return
        if listener.overflowed:
            await _close(websocket, CLOSE_TRY_AGAIN, "too far behind; reconnect to catch up")
            return
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
        await listener.wakeup.wait()
        listener.wakeup.clear()


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

"""Replacing a link: the organiser rotates a room's join token or the plenary token.

``POST /api/events/{event}/rooms/{room}/token`` and ``.../plenary/token`` (API,
organiser) answer with the event and its new tokens. The moderator page's form
posts (``/e/{event}/links/...``) do the same for the organiser's browser session
and answer with ``partials/rotate.html``. Either way the old token stops working
at once: see ``Services.rotate``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from facilitation.access import PLENARY
from facilitation.web.handling import (
    MODERATE,
    ORJSONResponse,
    authorise,
    is_htmx,
    require_same_origin,
)

if TYPE_CHECKING:
    from starlette.requests import Request

    from facilitation.access import Access
    from facilitation.domain import Board, Secrets
    from facilitation.services import Services


def access_links(services: Services, board: Board, secrets: Secrets) -> list[dict[str, str]]:
    """Every link of the event with its rotate URL, for ``partials/rotate.html``."""
    event_id = board.event_id
    links = [{
        "key": PLENARY, "label": PLENARY,  # the template says "Plenary board", translated
        "url": services.page_url(event_id, PLENARY, secrets.plenary_token),
        "rotate": f"/e/{event_id}/links/plenary",
    }]
    for room in board.event.get("rooms", []):
        links.append({
            "key": room["id"], "label": room["name"],
            "url": services.join_url(event_id, room["id"], secrets.join_tokens.get(room["id"])),
            "rotate": f"/e/{event_id}/links/rooms/{room['id']}",
        })
    return links


async def _rotate(request: Request) -> tuple[Services, Access, Board, Secrets, str]:
    """Check who asks, then rotate; the target is the plenary or the room in the path."""
    room_id = request.path_params.get("room")
    ctx = await authorise(request, MODERATE, room_id)
    services, event_id = ctx.services, ctx.event_id
    secrets = await services.rotate(event_id, room_id or PLENARY)
    return services, ctx.access, await services.board(event_id), secrets, room_id or PLENARY


async def rotate_api(request: Request) -> Response:
    services, access, board, secrets, _ = await _rotate(request)
    return ORJSONResponse(services.event_json(board, secrets, access))


async def rotate_page(request: Request) -> Response:
    require_same_origin(request)
    services, _, board, secrets, target = await _rotate(request)
    if not is_htmx(request):
        return RedirectResponse(f"/e/{board.event_id}/moderate", status_code=303)
    links = access_links(services, board, secrets)
    rotated = next((link["label"] for link in links if link["key"] == target), "")  # "plenary" too
    context: dict[str, Any] = {"links": links, "rotated": rotated}
    return HTMLResponse(services.renderer.render("partials/rotate.html", **context))


def routes() -> list[Route]:
    return [
        Route("/api/events/{event}/rooms/{room}/token", rotate_api, methods=["POST"]),
        Route("/api/events/{event}/plenary/token", rotate_api, methods=["POST"]),
        Route("/e/{event}/links/rooms/{room}", rotate_page, methods=["POST"]),
        Route("/e/{event}/links/plenary", rotate_page, methods=["POST"]),
    ]

"""An entry's whole text, for the pages that show long texts as a preview.

The moderator page and the plenary board list every action of the event; a long one
(``render.preview``) is shown as its first words and a link here. With htmx the link
fetches ``partials/text.html`` whole, into the preview's place (same id); without
JavaScript it opens a page with the text. Only the links that see the whole board
(organiser, plenary) may ask: the same texts those pages show.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from facilitation.domain import ITEM, MERGE
from facilitation.web import errors
from facilitation.web.handling import PLENARY_BOARD, authorise, is_htmx, page

if TYPE_CHECKING:
    from starlette.requests import Request

# Where a text is shown, as the first part of its element's id ("t-mod-<id>"): one
# entry can be shown in several places on one page (the moderator's list, a likely
# duplicate pair, a joint action's sources), and each place needs its own id.
PLACE = re.compile(r"t-[a-z]{2,5}[0-9]{0,2}")


async def whole_text(request: Request) -> Response:
    ctx = await authorise(request, PLENARY_BOARD)
    entry_id = request.path_params["id"]
    place = request.query_params.get("in", "t-page")
    if not PLACE.fullmatch(place):
        raise errors.NotFound()
    for kind in (ITEM, MERGE):
        entity = ctx.board.entities.get(f"{kind}:{entry_id}")
        if entity is not None and not entity.get("deleted"):
            break
    else:
        raise errors.NotFound("This action item does not exist any more.")
    context = {"entry_id": entry_id, "content": str(entity.get("text", "")), "place": place}
    renderer = ctx.services.renderer
    if is_htmx(request):
        return HTMLResponse(renderer.render("partials/text.html", whole=True, **context))
    back = f"/e/{ctx.event_id}/{'moderate' if ctx.access.may_moderate else 'plenary'}"
    event = {**ctx.board.event, "id": ctx.event_id}
    return page(request, "text_page.html", {**context, "event": event, "back": back})


def routes() -> list[Route]:
    return [Route("/e/{event}/text/{id}", whole_text)]

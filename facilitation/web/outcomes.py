"""``GET /api/events/{event}/outcomes.{fmt}``: the organiser's downloads.

Works with the organiser's bearer token and with the session cookie that
opening the organiser's link sets, so the moderator page's download links work
in a browser. Building and rendering run in a helper process (``offload``): a
10,000-action export does not stall the event loop that serves every room's live updates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import Response
from starlette.routing import Route

from facilitation.outcomes import FORMATS, Options, Query, offload
from facilitation.outcomes.report import report_csp
from facilitation.schemas import NAME_MAX
from facilitation.web import errors
from facilitation.web.handling import MODERATE, authorise

if TYPE_CHECKING:
    from starlette.requests import Request


SEPARATORS = {",": ",", ";": ";", "comma": ",", "semicolon": ";"}


def options(request: Request, fmt: str) -> Options:
    """``?owner=`` (outcomes.csv) and ``?sep=`` (the CSVs: "," or ";", "comma" or "semicolon")."""
    takes = FORMATS[fmt].options
    owner = request.query_params.get("owner")
    sep = request.query_params.get("sep")
    if owner is not None and "owner" not in takes:
        raise errors.Unprocessable("owner: only outcomes.csv and outcomes.ics can be filtered by owner.")
    if owner is not None and not 0 < len(owner.strip()) <= NAME_MAX:
        raise errors.Unprocessable("owner: give a name of 1 to 200 characters.")
    if sep is not None and "separator" not in takes:
        raise errors.Unprocessable("sep: only the CSV downloads have a separator.")
    if sep is not None and sep not in SEPARATORS:
        raise errors.Unprocessable('sep: use "," or ";" ("comma" or "semicolon").')
    return Options(owner=owner, separator=SEPARATORS[sep] if sep is not None else None)


async def outcomes(request: Request) -> Response:
    fmt = request.path_params["fmt"]
    ctx = await authorise(request, MODERATE)
    if fmt not in FORMATS:
        raise errors.NotFound(
            f"No such format. Ask for one of: outcomes.{', outcomes.'.join(FORMATS)}."
        )
    query = Query(fmt, options(request, fmt))
    board = await ctx.services.snapshot(ctx.event_id)
    result = await offload.render(board, query)
    # The HTML report opens in the browser (to read, print, or save as PDF); the rest download.
    disposition = "inline" if fmt == "html" else "attachment"
    headers = {"content-disposition": f'{disposition}; filename="{result.filename}"'}
    if fmt == "html":
        # Its own policy replaces the app's: the report's one inline stylesheet, by hash.
        headers["content-security-policy"] = report_csp()
    return Response(result.body, media_type=result.media_type, headers=headers)


def routes() -> list[Route]:
    return [Route("/api/events/{event}/outcomes.{fmt}", outcomes, methods=["GET"])]

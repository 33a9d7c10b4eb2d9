"""The consolidated outcomes: one model (``model.build``), one renderer per format.

``export(board, fmt)`` is what the API, the command line and the benchmark call;
it is pure and CPU-bound, so servers run it off the event loop. ``fmt`` is a key of
``FORMATS``, or a ``Query`` that adds the download's options (``?owner=``, ``?sep=``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from facilitation.domain import Board
from facilitation.outcomes import calendar, jsonio, report, spreadsheet, tabular
from facilitation.outcomes.model import Outcomes, build, same_owner
from facilitation.outcomes.tabular import Options


@dataclass(frozen=True)
class Format:
    suffix: str  # what follows "outcomes." in the URL and in the file name
    media_type: str
    render: Callable[[Outcomes, Options], bytes]
    label: str  # what it is for, in the download list
    options: tuple[str, ...] = ()  # which Options it takes ("owner", "separator")


@dataclass(frozen=True)
class Query:
    """One download: a format and its options."""

    fmt: str
    options: Options = Options()


def _plain(render: Callable[[Outcomes], bytes]) -> Callable[[Outcomes, Options], bytes]:
    return lambda o, _: render(o)


FORMATS: dict[str, Format] = {f.suffix: f for f in (
    Format("json", "application/json", _plain(jsonio.render), "JSON"),
    Format("csv", "text/csv; charset=utf-8", tabular.actions_csv, "CSV",
           ("owner", "separator")),
    Format("roles.csv", "text/csv; charset=utf-8", tabular.roles_csv, "CSV", ("separator",)),
    Format("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
           spreadsheet.xlsx, "Excel"),
    Format("md", "text/markdown; charset=utf-8", _plain(report.markdown), "Markdown"),
    Format("html", "text/html; charset=utf-8", _plain(report.html), "HTML"),
    Format("ics", "text/calendar; charset=utf-8", calendar.ics, "iCalendar", ("owner",)),
)}


@dataclass(frozen=True)
class Export:
    body: bytes
    media_type: str
    filename: str


def slug(title: str) -> str:
    """An ASCII file-name stem: "Beredskap på Vestlandet" -> "beredskap-pa-vestlandet"."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    stem = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:60].strip("-")
    return stem or "event"


def filename(outcomes: Outcomes, fmt: str, owner: str | None = None) -> str:
    day = outcomes.exported_at.strftime("%Y-%m-%d")
    name = "roles" if fmt == "roles.csv" else "outcomes"
    if owner is not None:
        name += "-" + slug(same_owner(owner))
    extension = "csv" if fmt == "roles.csv" else fmt
    return f"{slug(outcomes.title)}-{name}-{day}.{extension}"


def export(board: Board, fmt: str | Query, exported_at: datetime | None = None) -> Export:
    """Build the model from ``board`` and render it as ``fmt`` (a key of FORMATS, or a Query)."""
    query = fmt if isinstance(fmt, Query) else Query(fmt)
    chosen = FORMATS[query.fmt]
    outcomes = build(board, exported_at)
    return Export(chosen.render(outcomes, query.options), chosen.media_type,
                  filename(outcomes, query.fmt, query.options.owner))


__all__ = ["FORMATS", "Export", "Format", "Options", "Outcomes", "Query", "build", "export",
           "filename"]

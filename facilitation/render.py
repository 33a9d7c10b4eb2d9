"""Jinja2 rendering: full pages, HTTP fragments and websocket pushes.

One partial template per component (``partials/item.html`` renders ``#item-<id>``
wherever it appears), so a page, a form response and a push cannot drift apart.
Autoescape is on for every template; user text never reaches an attribute that
htmx interprets. Everything here renders to strings: a full page becomes an HTTP
answer in ``web/handling.py`` (``page``).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from typing import Any, cast

import jinja2
import orjson
from markupsafe import Markup

from facilitation import i18n, pushes
from facilitation.assets import STATIC, TEMPLATES
from facilitation.domain import Board, Change
from facilitation.pushes import JSON_VIEW

# Rendered entries kept for reuse (about 2 KB each): a room of a few hundred
# entries in several languages, for every room of a large event.
ENTRY_CACHE_SIZE = 20_000
# A page rendered in pieces (``Renderer.pieces``) comes in about this many characters
# each: web/handling.py's ``stream`` frees the event loop for everyone else between two.
PIECE = 128 * 1024
# ...or after this much rendering, whichever comes first.
PIECE_SECONDS = 0.005
# Long texts on the pages that list the whole event (the moderator's, the plenary board)
# show a preview of at most this many characters and a link to the rest
# (``partials/text.html``): 2,000 items of 2,000 characters were 5.9 MB of HTML per
# moderator page load. Texts up to ``PREVIEW_SLACK`` more are shown whole: a link that
# reveals ten words is worth less than the ten words.
PREVIEW_CHARS = 280
PREVIEW_SLACK = 60
_SPACE = re.compile(r"\s")


def preview(text: str) -> str | None:
    """The start of a long ``text``, cut at a word boundary, with an ellipsis; None when
    the text is short enough to show whole."""
    if len(text) <= PREVIEW_CHARS + PREVIEW_SLACK:
        return None
    cut = text[:PREVIEW_CHARS]
    # The last whitespace, unless it leaves too little (one very long word): then a
    # hard cut, which never splits a code point (str indexes code points).
    spaces = [m.start() for m in _SPACE.finditer(cut, PREVIEW_CHARS * 2 // 3)]
    if spaces:
        cut = cut[:spaces[-1]]
    return cut.rstrip() + "\u2026"


class Rendered:
    """HTML already rendered (so escaped) by templates, put into another as is. Markup
    would do, but Jinja's autoescape copies a Markup again on output (``escape`` makes
    a new Markup from it): ~2 ns a character, 3 MB per big moderator page. Its
    ``__html__`` gives a plain str, which the escape takes without that copy."""

    __slots__ = ("html",)

    def __init__(self, html: str) -> None:
        self.html = html

    def __html__(self) -> str:
        return self.html

    def __str__(self) -> str:
        return self.html


# Fragments joined into one part of a page (``joined``): a template's loop over the
# parts lets ``Renderer.pieces`` free the event loop between two pieces, and a part of
# this many fragments rendered for the first time (a flood's new items, ~0.3 ms each)
# is about 10 ms of work.
JOIN_EVERY = 32


def joined(fragments: Iterable[str], every: int = JOIN_EVERY) -> Iterator[Rendered]:
    """``fragments`` (each rendered when taken) joined ``every`` at a time: a room of
    1,000 items is 32 parts, not one, so no single part holds the event loop for them
    all (a page's pieces are sent with the loop free between two)."""
    batch: list[str] = []
    for html in fragments:
        batch.append(html)
        if len(batch) >= every:
            yield Rendered("".join(batch))
            batch = []
    if batch:
        yield Rendered("".join(batch))


def slices(parts: Iterable[str], chars: int | None = PIECE,
           seconds: float = PIECE_SECONDS) -> Iterator[str]:
    """``parts`` (each made when taken) joined into pieces of about ``chars`` characters,
    or fewer once making them took ``seconds``: fragments rendered for the first time (a
    flood's new items) cost far more per character than kept ones. Whoever sends the
    pieces frees the event loop between two (``web/handling.py``)."""
    buffer: list[str] = []
    size = 0
    started = time.perf_counter()
    for part in parts:
        buffer.append(part)
        size += len(part)
        if (chars is not None and size >= chars) or time.perf_counter() - started >= seconds:
            yield "".join(buffer)
            buffer, size = [], 0
            started = time.perf_counter()
    if buffer:
        yield "".join(buffer)


def _static_versions() -> dict[str, str]:
    """Content hashes for cache-busting ``/static/...?v=`` links."""
    versions = {}
    for path in STATIC.rglob("*"):
        if path.is_file():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:10]
            versions[path.relative_to(STATIC).as_posix()] = digest
    return versions


class Renderer:
    def __init__(self) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=True,
            extensions=["jinja2.ext.i18n"],
            trim_blocks=True,
            lstrip_blocks=True,
            # Templates ship with the package: checking their files' times on every
            # render cost the room page a few per cent for nothing.
            auto_reload=False,
        )
        # The callables read the request's language when called (i18n.current()),
        # so one environment and one template cache serve every language.
        self.env.install_gettext_callables(  # type: ignore[attr-defined]
            gettext=i18n.gettext, ngettext=i18n.ngettext, newstyle=True,
            pgettext=i18n.pgettext, npgettext=i18n.npgettext,
        )
        self.env.globals["languages"] = i18n.LANGUAGES
        # Messages from the code (errors, titles) translated at display time. A plain
        # str, so autoescape still applies: never ``_(variable)``, whose result
        # Jinja's newstyle gettext marks safe.
        self.env.filters["tr"] = i18n.gettext
        self.env.filters["date"] = i18n.fmt_date
        self.env.filters["number"] = i18n.fmt_number
        versions = _static_versions()
        self.env.globals["static"] = lambda p: f"/static/{p}?v={versions.get(p, '0')}"
        self.env.filters["goal_names"] = goal_names
        self.env.filters["preview"] = preview
        # Rendered (and escaped) by the partial itself, so safe to insert as is.
        self.env.globals["entry"] = lambda *args: Markup(self.entry(*args))  # noqa: S704
        self.env.globals["board_actions"] = self.board_actions
        self._entries: OrderedDict[tuple[Any, ...], str] = OrderedDict()

    def render(self, template: str, /, **context: Any) -> str:
        # Positional-only: a context may hold any key, "name" too (the join form's
        # participant name; as a keyword it collided with the template's name: a 500).
        context.setdefault("lang", i18n.current())
        return self.env.get_template(template).render(**context)

    def pieces(self, template: str, /, **context: Any) -> Iterator[str]:
        """``render``, lazily, in ``slices``: for pages of megabytes (the moderator's,
        the board's view of a big event). Everything the template reads must be in
        ``context`` already."""
        context.setdefault("lang", i18n.current())
        return slices(self.env.get_template(template).generate(**context))

    def entry(
        self, kind: str, entity: dict[str, Any], event: dict[str, Any], oob: bool = False
    ) -> str:
        """One action item or role as ``partials/<kind>.html`` renders it.

        Each version of an entry is rendered once per language and kept: a room
        page lists every entry of its room, and rendering 500 of them on every
        load cost the page ~50 ms; the push of a change and the answer to the
        form that made it share one render. What the partial shows depends only
        on the entry, the event (its goals, via its version) and the language.
        """
        if entity.get("deleted"):
            return str(Markup('<li id="{}-{}" hx-swap-oob="delete"></li>').format(kind, entity["id"]))
        lang = i18n.current()
        key = (kind, entity["id"], entity["version"], event.get("id"), event.get("version"),
               lang, oob)
        return self._kept(key, lambda: self.render(
            f"partials/{kind}.html", **{kind: entity}, event=event, oob=oob, lang=lang))

    def fragment(self, name: str, key: tuple[Any, ...], /, **context: Any) -> Markup:
        """``name`` rendered once per ``key`` (which must name everything it shows, the
        language included) and kept with the entries: a page of thousands of parts
        joins them instead of rendering each again (the moderator's items)."""
        # Kept as Markup (rendered, so escaped, by the template): a page of thousands
        # joins them without wrapping, so copying, each again.
        html = self._kept(("fragment", name, *key),
                          lambda: Markup(self.render(name, **context)))  # noqa: S704
        return cast(Markup, html)

    def board_action(self, action: Any, event: dict[str, Any], room_names: dict[str, str]
                     ) -> Markup:
        """One action on the plenary board (``plenary/action.html``), rendered once per
        version, votes, event (its rooms' names, via its version) and language: the board
        is fetched again after every change, and rendering each of 2,000 actions every
        time cost its view ~150 ms."""
        lang = i18n.current()
        key = (event.get("id"), action.kind, action.id, action.entity.get("version"),
               action.votes, event.get("version"), lang)
        return self.fragment("plenary/action.html", key, action=action, event=event,
                             room_names=room_names, lang=lang)

    def board_actions(self, actions: list[Any], event: dict[str, Any],
                      room_names: dict[str, str]) -> Iterator[Rendered]:
        """``board_action`` of each, joined here a few at a time (``joined``): through the
        template's autoescape each kept fragment was copied again, and joined all at
        once a room's new actions were rendered without a break."""
        return joined(self.board_action(a, event, room_names) for a in actions)

    def _kept(self, key: tuple[Any, ...], make: Callable[[], str]) -> str:
        """What ``make`` renders for ``key``: rendered once, kept, the least recently
        used dropped first beyond ``ENTRY_CACHE_SIZE``."""
        html = self._entries.get(key)
        if html is None:
            html = self._entries[key] = make()
            if len(self._entries) > ENTRY_CACHE_SIZE:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(key)
        return html

    # -- pushes ------------------------------------------------------------------------

    def frame(self, change: Change, board: Board, view: str) -> str | None:
        """The frame one change becomes on one view; rendered once per worker per change.

        What a page gets is ``pushes.PUSHES``; the API stream gets the change as JSON.
        """
        if view == JSON_VIEW:
            return orjson.dumps(change.frame()).decode()
        # Views may carry a language ("room:<id>@nb"; else the event's) and an
        # argument: "room:<room id>" renders for that room.
        view, _, lang = view.partition("@")
        name, _, argument = view.partition(":")
        with i18n.using(lang or board.event.get("language", i18n.DEFAULT)):
            body = pushes.render(self, change, board, name, argument)
        # Every push carries the sequence marker the page resumes from.
        marker = f'<div id="sync-seq" hx-swap-oob="true" data-seq="{change.seq}" hidden></div>'
        return marker + body

    def reset_frame(self, view: str, seq: int, epoch: str = "") -> str:
        """Tell a client its board is not this store's: load afresh, do not replay."""
        if view == JSON_VIEW:
            return orjson.dumps({"type": "reset", "seq": seq, "epoch": epoch}).decode()
        return f'<div id="sync-reload" hx-swap-oob="true" data-reload="{seq}" hidden></div>'

    def heartbeat_frame(self, view: str, seq: int) -> str | None:
        """What a page gets on a quiet link: its own resume marker again (harmless)."""
        if view == JSON_VIEW:
            return None  # API clients have websocket pings; the contract has no such frame
        return f'<div id="sync-seq" hx-swap-oob="true" data-seq="{seq}" hidden></div>'


def goal_names(goal_ids: list[str], event: dict[str, Any]) -> list[str]:
    by_id = {g["id"]: g["text"] for g in event.get("goals", [])}
    return [by_id[g] for g in goal_ids if g in by_id]

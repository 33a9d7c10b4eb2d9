"""The readable report: Markdown to paste anywhere, HTML to print or save as PDF.

Both follow one outline: summary, then per room its guiding question, actions
and roles, then the joint (merged) actions and the goal alignment, in the event's
language (its own words only: what people typed is never translated). User text is
escaped for each target (``safety.md_text`` for Markdown, Jinja autoescape for HTML).
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from typing import TYPE_CHECKING

import jinja2
from markupsafe import Markup

from facilitation.i18n import N_, catalog
from facilitation.outcomes.model import Action, Merged, Outcomes
from facilitation.outcomes.safety import md_cell, md_escape, md_text, printable

if TYPE_CHECKING:
    from facilitation.outcomes.model import Role

STATUS_LABEL = {"proposed": N_("Proposed"), "agreed": N_("Agreed"), "done": N_("Done")}


class Words:
    """The report's own words in the event's language (user text is never translated)."""

    def __init__(self, language: str) -> None:
        self.catalog = catalog(language)

    def __call__(self, message: str, **values: object) -> str:
        text = self.catalog.gettext(message)
        return text % values if values else text

    def status(self, status: str) -> str:
        return self(STATUS_LABEL[status]) if status in STATUS_LABEL else status

    def headline(self, o: Outcomes) -> str:
        _, t = self, o.totals  # named _ so that `python -m facilitation.i18n` finds the words
        # Never _() inside an f-string: the extractor cannot see it there.
        actions, roles, joint, rooms = (
            _("Actions"), _("Role assignments"), _("Joint actions"), _("Rooms"))
        agreed = _("%(agreed)d agreed, %(done)d done", agreed=t.agreed, done=t.done)
        # "Label: number" rather than plural forms: one msgid each, in every language.
        return " · ".join([
            _("Exported %(when)s", when=o.exported_at.strftime("%Y-%m-%d %H:%M UTC")),
            f"{actions}: {t.actions} ({agreed})", f"{roles}: {t.roles}",
            f"{joint}: {len(o.merges)}", f"{rooms}: {len(o.rooms)}",
        ])


def _action_details(a: Action | Merged, _: Words) -> str:
    parts = [f"{_('Owner')}: {md_escape(a.owner) if a.owner else '—'}",
             f"{_('Due')}: {a.due.isoformat() if a.due else '—'}",
             f"{_('Status')}: {md_escape(_.status(a.status))}"]
    if a.goals:
        parts.append(f"{_('Goals')}: " + "; ".join(md_escape(g.text) for g in a.goals))
    if a.votes:
        parts.append(f"{_('Votes')}: {a.votes}")
    if isinstance(a, Action) and a.merged_into:
        parts.append(_("merged into %(ref)s", ref=a.merged_into))
    if a.author:
        parts.append(_("by %(author)s", author=md_escape(a.author)))
    return " · ".join(parts)


def _role_line(r: Role) -> str:
    line = f"- **{md_text(r.actor, '  ')}** — {md_text(r.role, '  ')}"
    if r.responsibility:
        line += f": {md_text(r.responsibility, '  ')}"
    return line


def markdown(o: Outcomes) -> bytes:
    # The labels below are inside f-strings, where the extractor cannot see them; every
    # one of them is also in templates/outcomes/report.html, which it reads.
    _ = Words(o.language)
    out = [
        f"# {md_text(_('Outcomes: %(title)s', title=o.title))}",
        "",
        _.headline(o),  # our words, numbers and a date: nothing typed
        "",
        f"## {_('Summary')}",
        "",
        f"| {_('Room')} | {_('Actions')} | {_('Agreed')} | {_('Done')} | {_('Merged')} | "
        f"{_('Roles')} |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in o.rooms:
        c = r.counts
        out.append(f"| {md_cell(r.room.name)} | {c.actions} | {c.agreed} | {c.done} | "
                   f"{c.merged} | {c.roles} |")
    for r in o.rooms:
        out += ["", f"## {md_text(r.room.name)}", ""]
        if r.room.prompt:
            out += [f"*{_('Guiding question')}:* {md_text(r.room.prompt)}", ""]
        out += [f"### {_('Actions')}", ""]
        if not r.actions:
            out.append(_("No actions."))
        for a in r.actions:
            # "R1.2" is a quotable reference; details on an indented line of the same item.
            out.append(f"- **{a.ref}** {md_text(a.text, '  ')}  ")
            out.append(f"  {_action_details(a, _)}")
        out += ["", f"### {_('Roles')}", ""]
        if not r.roles:
            out.append(_("No role assignments."))
        out += [_role_line(x) for x in r.roles]
    out += ["", f"## {_('Joint actions')}", ""]
    if not o.merges:
        out.append(_("No actions were merged across rooms."))
    for m in o.merges:
        out.append(f"- **{m.ref}** {md_text(m.text, '  ')}  ")
        out.append(f"  {_action_details(m, _)}  ")
        sources = ", ".join(f"{a.ref} ({md_escape(a.room.name)})" for a in m.sources)
        out.append(f"  {_('Sources')}: {sources or '—'}")
    out += ["", f"## {_('Goal alignment')}", ""]
    if not o.alignment:
        out.append(_("The event has no plan goals."))
    else:
        out.append(f"| {_('Goal')} | " + " | ".join(md_cell(r.room.name) for r in o.rooms)
                   + f" | {_('Total')} |")
        out.append("| --- |" + " ---: |" * (len(o.rooms) + 1))
        for line in o.alignment:
            total = str(line.total) if line.addressed else f"**{_('not addressed')}**"
            out.append(f"| {md_cell(line.goal.text)} | "
                       + " | ".join(str(n) for n in line.per_room) + f" | {total} |")
        out.append(f"| *{_('no goal')}* | " + " | ".join(str(n) for n in o.untagged)
                   + f" | {sum(o.untagged)} |")
    out.append("")
    return "\n".join(out).encode("utf-8")


# -- HTML --------------------------------------------------------------------------------


@cache
def _environment() -> jinja2.Environment:
    from facilitation.render import TEMPLATES

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
        trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined,
    )
    env.filters["clean"] = printable
    return env


@cache
def report_css() -> str:
    from facilitation.render import STATIC

    return (STATIC / "outcomes-report.css").read_text(encoding="utf-8")


def report_csp() -> str:
    """The report's policy: its one stylesheet (by hash), nothing else, never a script."""
    digest = base64.b64encode(hashlib.sha256(report_css().encode()).digest()).decode()
    return f"default-src 'none'; style-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'"


def html(o: Outcomes) -> bytes:
    template = _environment().get_template("outcomes/report.html")
    # Our own stylesheet file, never user text: trusted as it is.
    css = Markup(report_css())  # noqa: S704
    page = template.render(o=o, _=Words(o.language), css=css, csp=report_csp())
    return page.encode("utf-8")

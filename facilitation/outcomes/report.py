"""The readable report: Markdown to paste anywhere, HTML to print or save as PDF.

Both follow one outline: summary, then per room its guiding question, actions
and roles, then the merged actions and the goal alignment. User text is escaped
for each target (``safety.md_text`` for Markdown, Jinja autoescape for HTML).
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from typing import TYPE_CHECKING

import jinja2
from markupsafe import Markup

from facilitation.outcomes.model import Action, Merged, Outcomes
from facilitation.outcomes.safety import md_cell, md_escape, md_text, printable

if TYPE_CHECKING:
    from facilitation.outcomes.model import Role

STATUS_LABEL = {"proposed": "proposed", "agreed": "agreed", "done": "done"}


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _when(o: Outcomes) -> str:
    return o.exported_at.strftime("%Y-%m-%d %H:%M UTC")


def _action_details(a: Action | Merged) -> str:
    parts = [f"owner: {md_escape(a.owner) if a.owner else '—'}",
             f"due: {a.due.isoformat() if a.due else '—'}",
             f"status: {STATUS_LABEL.get(a.status, md_escape(a.status))}"]
    if a.goals:
        parts.append("goals: " + "; ".join(md_escape(g.text) for g in a.goals))
    if a.votes:
        parts.append(f"votes: {a.votes}")
    if isinstance(a, Action) and a.merged_into:
        parts.append(f"merged into {a.merged_into}")
    if a.author:
        parts.append(f"by {md_escape(a.author)}")
    return " · ".join(parts)


def _role_line(r: Role) -> str:
    line = f"- **{md_text(r.actor, '  ')}** — {md_text(r.role, '  ')}"
    if r.responsibility:
        line += f": {md_text(r.responsibility, '  ')}"
    return line


def markdown(o: Outcomes) -> bytes:
    t = o.totals
    out = [
        f"# Outcomes: {md_text(o.title)}",
        "",
        f"Exported {_when(o)} · {plural(t.actions, 'action')} ({t.agreed} agreed, {t.done} done)"
        f" · {plural(t.roles, 'role assignment')} · {plural(len(o.merges), 'merged action')}"
        f" · {plural(len(o.rooms), 'room')}",
        "",
        "## Summary",
        "",
        "| Room | Actions | Agreed | Done | Merged | Roles |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in o.rooms:
        c = r.counts
        out.append(f"| {md_cell(r.room.name)} | {c.actions} | {c.agreed} | {c.done} | "
                   f"{c.merged} | {c.roles} |")
    for r in o.rooms:
        out += ["", f"## {md_text(r.room.name)}", ""]
        if r.room.prompt:
            out += [f"*Guiding question:* {md_text(r.room.prompt)}", ""]
        out += ["### Actions", ""]
        if not r.actions:
            out.append("No actions.")
        for a in r.actions:
            # "R1.2" is a quotable reference; details on an indented line of the same item.
            out.append(f"- **{a.ref}** {md_text(a.text, '  ')}  ")
            out.append(f"  {_action_details(a)}")
        out += ["", "### Roles", ""]
        if not r.roles:
            out.append("No role assignments.")
        out += [_role_line(x) for x in r.roles]
    out += ["", "## Merged actions", ""]
    if not o.merges:
        out.append("No actions were merged across rooms.")
    for m in o.merges:
        out.append(f"- **{m.ref}** {md_text(m.text, '  ')}  ")
        out.append(f"  {_action_details(m)}  ")
        sources = ", ".join(f"{a.ref} ({md_escape(a.room.name)})" for a in m.sources)
        out.append(f"  sources: {sources}")
    out += ["", "## Goal alignment", ""]
    if not o.alignment:
        out.append("The event has no plan goals.")
    else:
        out.append("| Goal | " + " | ".join(md_cell(r.room.name) for r in o.rooms) + " | Total |")
        out.append("| --- |" + " ---: |" * (len(o.rooms) + 1))
        for line in o.alignment:
            total = str(line.total) if line.addressed else "**not addressed**"
            out.append(f"| {md_cell(line.goal.text)} | "
                       + " | ".join(str(n) for n in line.per_room) + f" | {total} |")
        out.append("| *no goal* | " + " | ".join(str(n) for n in o.untagged)
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
    page = template.render(o=o, when=_when(o), css=css,
                           csp=report_csp(), status=STATUS_LABEL, plural=plural)
    return page.encode("utf-8")

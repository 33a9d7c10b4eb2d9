"""The readable report: Markdown to paste anywhere, HTML to print or save as PDF.

Both follow one outline. First a summary for leadership (one or two printed A4
pages): counts, the top actions by votes, every joint action with its goals and
sources, goal coverage (goals x rooms), the roles matrix with its conflicts, and
what is still without an owner or a due date. Then, as appendices, every room's
actions and roles, and each owner's list of actions (to send to them). Goals and
rooms appear as short codes (G2, R3) with a legend; everything is in the event's
language (its own words only: what people typed is never translated). User text is
escaped for each target (``safety.md_*`` for Markdown, Jinja autoescape for HTML).
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache

import jinja2
from markupsafe import Markup

from facilitation.assets import STATIC, TEMPLATES
from facilitation.outcomes.model import Action, Merged, Outcomes, Role, RoleConflict
from facilitation.outcomes.safety import md_cell, md_escape, md_text, one_line, printable
from facilitation.outcomes.words import Words

SHORT = 150  # characters of an action's text where the summary quotes it (the appendix has all)
BAR_STEPS = 20  # vote bars are drawn in 5 % steps (classes in the stylesheet: no inline style)


def short(text: str, limit: int = SHORT) -> str:
    """An action's text on one line, cut at a word with "…" (its ref leads to the whole)."""
    line = one_line(text)
    if len(line) <= limit:
        return line
    return line[:limit].rsplit(" ", 1)[0].rstrip(" ,;:.-") + " …"


def bar(votes: int, most: int) -> int:
    return round(BAR_STEPS * votes / most) if most else 0


def missing(a: Action | Merged, _: Words) -> str:
    gaps = [] if a.owners else [_("owner")]
    if a.due is None:
        gaps.append(_("due date"))
    return ", ".join(gaps)


def rooms_code(a: Action | Merged) -> str:
    return ", ".join(f"R{r.number}" for r in a.rooms)


# -- Markdown ----------------------------------------------------------------------------


def _details(a: Action | Merged, _: Words) -> str:
    parts = [f"{_('Owner')}: {md_escape(one_line(a.owner)) if a.owner.strip() else '—'}",
             f"{_('Due')}: {a.due.isoformat() if a.due else '—'}",
             f"{_('Status')}: {md_escape(_.status(a.status))}"]
    if a.goals:
        parts.append(f"{_('Goals')}: " + ", ".join(md_escape(g.label) for g in a.goals))
    if a.votes:
        parts.append(f"{_('Votes')}: {a.votes}")
    if isinstance(a, Action) and a.merged_into:
        parts.append(_("merged into %(ref)s", ref=a.merged_into))
    if a.author:
        parts.append(_("by %(author)s", author=md_escape(one_line(a.author))))
    return " · ".join(parts)


def _follow_up(a: Action | Merged, _: Words) -> str:
    """After the event: the owner's last report, on one line."""
    f = a.follow_up
    line = f"{_('Follow-up')}: {md_escape(f.label(_))}, {f.percent} %"
    if f.due is not None:
        line += f" · {_('New due date')}: {f.due.isoformat()}"
    if f.note:
        line += f" · {_('Note')}: {md_escape(one_line(f.note))}"
    return line


def _role_line(r: Role) -> str:
    line = f"- **{md_text(r.actor, '  ')}** — {md_text(r.role, '  ')}"
    if r.responsibility:
        line += f": {md_text(r.responsibility, '  ')}"
    return line


def _md_summary(o: Outcomes, _: Words) -> list[str]:
    out = [f"## {_('Summary')}", "", f"### {_('Rooms')}", "",
           f"| | {_('Room')} | {_('Actions')} | {_('Agreed')} | {_('Done')} | {_('Roles')} |",
           "| --- | --- | ---: | ---: | ---: | ---: |"]
    # As the board lists them: a room's merged actions are counted once, as joint actions.
    for r in o.rooms:
        c = r.listed
        out.append(f"| R{r.room.number} | {md_cell(r.room.name)} | {c.actions} | {c.agreed} | "
                   f"{c.done} | {c.roles} |")
    if o.merges:
        j = o.joint
        out.append(f"| M | {_('Joint actions')} | {j.actions} | {j.agreed} | {j.done} | |")
    out += ["", f"### {_('Top actions by votes')}", ""]
    if not o.top:
        out.append(_("No votes were given."))
    else:
        out += [f"| {_('Ref')} | {_('Action')} | {_('Votes')} |", "| --- | --- | ---: |"]
        out += [f"| {a.ref} | {md_cell(short(a.text))} | {a.votes} |" for a in o.top]
    if o.followed_up and o.goals:
        out += ["", f"### {_('Progress per plan goal')}", "",
                f"| | {_('Goal')} | {_('Actions')} | {_('Done')} | {_('Progress')} |",
                "| --- | --- | ---: | ---: | ---: |"]
        out += [f"| {goal.code} | {md_cell(goal.text)} | {count} | {done} | {percent} % |"
                for goal, count, done, percent in o.goal_progress]
    out += ["", f"### {_('Joint actions')}", ""]
    if not o.merges:
        out.append(_("No actions were merged across rooms."))
    for m in o.merges:
        out.append(f"- **{m.ref}** {md_text(m.text, '  ')}  ")
        out.append(f"  {_details(m, _)}  ")
        sources = ", ".join(f"{a.ref} ({md_escape(one_line(a.room.name))})" for a in m.sources)
        out.append(f"  {_('Sources')}: {sources or '—'}")
    out += ["", f"### {_('Goal coverage')}", ""]
    if not o.alignment:
        out.append(_("The event has no plan goals."))
    else:
        out.append(f"| | {_('Goal')} | " + " | ".join(f"R{r.room.number}" for r in o.rooms)
                   + f" | {_('Total')} |")
        out.append("| --- | --- |" + " ---: |" * (len(o.rooms) + 1))
        for line in o.alignment:
            total = str(line.total) if line.addressed else f"**{_('not addressed')}**"
            out.append(f"| {line.goal.code} | {md_cell(line.goal.text)} | "
                       + " | ".join(str(n) for n in line.per_room) + f" | {total} |")
        out.append(f"| | *{_('no goal')}* | " + " | ".join(str(n) for n in o.untagged)
                   + f" | {sum(o.untagged)} |")
    out += ["", f"### {_('Roles')}", ""]
    if not o.actors:
        out.append(_("No role assignments."))
    else:
        out.append(f"| {_('Actor')} | " + " | ".join(f"R{r.room.number}" for r in o.rooms)
                   + " |")
        out.append("| --- |" + " --- |" * len(o.rooms))
        for row in o.actors:
            flag = f" **⚠ {_('conflict')}**" if row.conflict else ""
            cells = [", ".join(md_cell(x.role) for x in roles) for roles in row.per_room]
            out.append(f"| {md_cell(row.actor)}{flag} | " + " | ".join(cells) + " |")
        out.append("")
        out += [f"- ⚠ {md_escape(_conflict(clash, _))}" for clash in o.conflicts]
    out += ["", f"### {_('Without an owner or a due date')}", ""]
    if not o.unassigned:
        out.append(_("Every action has an owner and a due date."))
    for a in o.unassigned:
        out.append(f"- **{a.ref}** {md_cell(short(a.text, 90))} — {_('missing')}: "
                   f"{missing(a, _)}")
    return out


def _conflict(c: RoleConflict, _: Words) -> str:
    what = _("Two leads") if c.kind == "two_leads" else _("Two roles for one actor")
    return (f"{what}: {one_line(c.first.actor)} ({one_line(c.first.role)}, "
            f"R{c.first.room.number}) / {one_line(c.second.actor)} ({one_line(c.second.role)}, "
            f"R{c.second.room.number}) — {one_line(c.responsibility)}")


def markdown(o: Outcomes) -> bytes:
    # The labels below are inside f-strings, where the extractor cannot see them; every
    # one of them is also in templates/outcomes/report.html, which it reads.
    _ = Words(o.language)
    out = [f"# {md_cell(_('Outcomes: %(title)s', title=o.title))}", "", _.headline(o), ""]
    out += _md_summary(o, _)
    out += ["", f"## {_('Appendix: the rooms')}", ""]
    if o.goals:
        out.append(f"{_('Goals')}: " + " · ".join(
            f"{g.code} {md_escape(one_line(g.text))}" for g in o.goals))
    for r in o.rooms:
        out += ["", f"### R{r.room.number} {md_cell(r.room.name)}", ""]
        if r.room.prompt:
            out += [f"*{_('Guiding question')}:* {md_text(r.room.prompt)}", ""]
        out += [f"#### {_('Actions')}", ""]
        if not r.actions:
            out.append(_("No actions."))
        for a in r.actions:
            # "R1.2" is a quotable reference; details on an indented line of the same item.
            out.append(f"- **{a.ref}** {md_text(a.text, '  ')}  ")
            out.append(f"  {_details(a, _)}" + (f"  \n  {_follow_up(a, _)}" if o.followed_up else ""))
        out += ["", f"#### {_('Roles')}", ""]
        if not r.roles:
            out.append(_("No role assignments."))
        out += [_role_line(x) for x in r.roles]
    out += ["", f"## {_('Appendix: actions by owner')}", ""]
    if not o.owners:
        out.append(_("No action has an owner yet."))
    for owner in o.owners:
        out += ["", f"### {md_cell(owner.owner)}", ""]
        for owned in owner.actions:
            due = owned.due.isoformat() if owned.due else "—"
            out.append(f"- **{owned.ref}** {md_cell(short(owned.text))} — {_('Due')}: {due} · "
                       f"{_('Status')}: {md_escape(_.status(owned.status))}"
                       + (f" · {_follow_up(owned, _)}" if o.followed_up else ""))
    out.append("")
    return "\n".join(out).encode("utf-8")


# -- HTML --------------------------------------------------------------------------------


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
        trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined,
    )
    env.filters["clean"] = printable
    env.filters["line"] = one_line
    env.filters["short"] = short
    env.globals.update(bar=bar, missing=missing, rooms_code=rooms_code, conflict=_conflict)
    return env


@cache
def report_css() -> str:
    return (STATIC / "outcomes-report.css").read_text(encoding="utf-8")


def report_csp(header: bool = True) -> str:
    """The report's policy: its one stylesheet (by hash), nothing else, never a script,
    never inside another site's frame. ``frame-ancestors`` only works (and is only
    allowed) in the response header, so the copy in the saved file's <meta> lacks it."""
    digest = base64.b64encode(hashlib.sha256(report_css().encode()).digest()).decode()
    policy = f"default-src 'none'; style-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'"
    return policy + "; frame-ancestors 'none'" if header else policy


def html(o: Outcomes) -> bytes:
    template = _environment().get_template("outcomes/report.html")
    # Our own stylesheet file, never user text: trusted as it is.
    css = Markup(report_css())  # noqa: S704
    page = template.render(o=o, _=Words(o.language), css=css, csp=report_csp(header=False),
                           most=max((a.votes for a in o.top), default=0))
    return page.encode("utf-8")

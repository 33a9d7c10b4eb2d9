"""The exports' own words in the event's language (what people typed is never translated).

Every renderer takes one ``Words`` for the event's language: column headers, status
values, sheet names and calendar labels come from the same catalogs as the pages
(``python -m facilitation.i18n`` extracts them: ``_("...")`` and
``_.pgettext("column", "...")`` calls, where ``_`` is a ``Words``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from facilitation.i18n import N_, catalog, valid

if TYPE_CHECKING:
    from facilitation.outcomes.model import Outcomes

STATUS_LABEL = {"proposed": N_("Proposed"), "agreed": N_("Agreed"), "done": N_("Done")}

# Nordic and French spreadsheets use the comma as the decimal mark and expect ";"
# between CSV fields; English ones expect ",".
SEPARATOR = {"en": ",", "nb": ";", "fr": ";"}


class Words:
    def __init__(self, language: str) -> None:
        self.language = valid(language) or "en"
        self.catalog = catalog(self.language)

    def __call__(self, message: str, **values: object) -> str:
        text = self.catalog.gettext(message)
        return text % values if values else text

    def pgettext(self, context: str, message: str) -> str:
        return self.catalog.pgettext(context, message)

    def status(self, status: str) -> str:
        return self(STATUS_LABEL[status]) if status in STATUS_LABEL else status

    def yes_no(self, value: bool) -> str:
        return self("yes") if value else self("no")

    @property
    def separator(self) -> str:
        return SEPARATOR.get(self.language, ",")

    def headline(self, o: Outcomes) -> str:
        """One line of counts under the title: our words, numbers and a date, nothing typed."""
        # Actions as the board lists them: a joint action once, its sources not again.
        _, t = self, o.listed  # named _ so that `python -m facilitation.i18n` finds the words
        # Never _() inside an f-string: the extractor cannot see it there.
        actions, roles, joint, rooms, votes = (
            _("Actions"), _("Role assignments"), _("Joint actions"), _("Rooms"), _("Votes"))
        agreed = _("%(agreed)d agreed, %(done)d done", agreed=t.agreed, done=t.done)
        # "Label: number" rather than plural forms: one msgid each, in every language.
        return " · ".join([
            _("Exported %(when)s", when=o.exported_at.strftime("%Y-%m-%d %H:%M UTC")),
            f"{actions}: {t.actions} ({agreed})", f"{roles}: {t.roles}",
            f"{joint}: {len(o.merges)}", f"{rooms}: {len(o.rooms)}", f"{votes}: {len(o.votes)}",
        ])

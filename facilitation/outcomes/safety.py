"""What keeps user text inert in every export.

- Spreadsheets: a cell that starts with = + - @ tab, carriage return or line feed
  is a formula (or can become one) to Excel/LibreOffice/Sheets (CSV injection,
  OWASP's list). In a CSV such cells get a leading apostrophe (OWASP's advice); the
  XLSX writer instead stores them as strings with the "quote prefix" style, so the
  apostrophe never shows in the cell.
- Markdown: a character is backslash-escaped only where it could start markup
  (``md_escape``): raw HTML, links, emphasis, code, headings, lists or tables typed
  in a room stay literal text, while "Lars-Erik", "HV-09" or "(totalforsvar)" stay
  as they were typed.
- Line ends: CR LF, CR and the Unicode line breaks (U+0085, U+2028, U+2029) are one
  newline everywhere, so every export breaks a line where the text does.
- Control characters that XML (XLSX, HTML) and iCalendar cannot carry are dropped;
  everything else, including any non-ASCII script and emoji, is kept as it is.
"""

from __future__ import annotations

import re

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")

# Every way of ending a line: CR LF, CR, NEL, LINE SEPARATOR, PARAGRAPH SEPARATOR.
LINE_BREAK = re.compile("\r\n|[\r\x85\u2028\u2029]")

# C0 controls except tab and newline (line breaks are normalised first), DEL and the
# other C1 controls.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f]")

# Anywhere in a line: what opens code, emphasis, links, raw HTML, tables and
# strikethrough, and the backslash itself. "&" only where it would read as an entity.
INLINE = re.compile(r"([\\`*_\[\]<|~])|&(?=#?[0-9A-Za-z]+;)")
# At the start of a line only: an ATX heading ("# ", "###"), a block quote, a bullet
# ("- ", "+ "), a setext underline or thematic break (only "-" and "="), an ordered
# list ("1. ", "2) "). "#hashtag", "-2+3" or "1.5 million" are left alone.
LINE_START = re.compile(
    r"^(?:(#{1,6}|>|[+\-])(?=\s|$)|(>)|([-=])(?=[-=\s]*$)|([0-9]{1,9})([.)])(?=\s|$))")


def neutralise(value: str) -> str:
    """A CSV cell that is never a formula."""
    return "'" + value if dangerous(value) else value


def dangerous(value: str) -> bool:
    """Whether a spreadsheet would read this cell as (the start of) a formula."""
    return value.startswith(FORMULA_START)


def printable(value: str) -> str:
    """Text with newline line ends and no control characters but tab and newline."""
    return CONTROL.sub("", LINE_BREAK.sub("\n", value))


def one_line(value: str) -> str:
    """Printable text on one line: every run of whitespace (line breaks too) one space."""
    return " ".join(printable(value).split())


def md_escape(value: str, line_start: bool = False) -> str:
    """One line of user text as literal Markdown; ``line_start`` if it begins a line."""
    escaped = INLINE.sub(lambda m: "\\" + (m.group(1) or "&"), value)
    if line_start:
        escaped = LINE_START.sub(_escape_start, escaped)
    return escaped


def _escape_start(m: re.Match[str]) -> str:
    if m.group(4):
        return m.group(4) + "\\" + m.group(5)
    return "\\" + m.group(0)


def md_text(value: str, indent: str = "") -> str:
    """User text, possibly multi-line, as literal Markdown inline content.

    Lines become hard line breaks (a trailing backslash) inside the same block,
    continued at ``indent`` so a list item stays one item; blank lines are dropped
    because they would end the block and let the next line start a new one.
    """
    lines = [md_escape(line.strip(), line_start=True) for line in printable(value).split("\n")]
    return ("\\\n" + indent).join(line for line in lines if line)


def md_cell(value: str) -> str:
    """User text inside a Markdown table cell or a heading: one line, pipes escaped."""
    return md_escape(one_line(value), line_start=True)

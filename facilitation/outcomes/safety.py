"""What keeps user text inert in every export.

- Spreadsheets: a cell that starts with = + - @ tab or carriage return is a
  formula to Excel/LibreOffice/Sheets (CSV injection). Such cells get a leading
  apostrophe (OWASP's advice), and the XLSX writer stores them as strings.
- Markdown: every character that could start markup is backslash-escaped, so
  raw HTML, links, emphasis or headings typed in a room stay literal text.
- Control characters that XML (XLSX, HTML) and iCalendar cannot carry are dropped;
  everything else, including any non-ASCII script and emoji, is kept as it is.
"""

from __future__ import annotations

import re

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

# C0 controls except tab and newline (and carriage return, normalised below), and DEL.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# Every ASCII punctuation character CommonMark or GFM gives a meaning to, plus
# & (entities), $ (math), @ (mentions), = and ~ (setext headings, strikethrough).
MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+\-.!|&$@=~])")


def neutralise(value: str) -> str:
    """A spreadsheet cell that is never a formula."""
    return "'" + value if value.startswith(FORMULA_START) else value


def printable(value: str) -> str:
    """Text with normalised line ends and no control characters but tab and newline."""
    return CONTROL.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))


def md_escape(value: str) -> str:
    """One line of user text as literal Markdown."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", value)


def md_text(value: str, indent: str = "") -> str:
    """User text, possibly multi-line, as literal Markdown inline content.

    Lines become hard line breaks (a trailing backslash) inside the same block,
    continued at ``indent`` so a list item stays one item; blank lines are dropped
    because they would end the block and let the next line start a new one.
    """
    lines = [md_escape(line.strip()) for line in printable(value).split("\n")]
    return ("\\\n" + indent).join(line for line in lines if line)


def md_cell(value: str) -> str:
    """User text inside a Markdown table cell: one line, pipes escaped."""
    return md_escape(" ".join(printable(value).split()))

"""Where the files that ship with the code are: templates, static files, translations.

Inside an installed wheel they sit in the package; in a checkout, beside it.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def asset_dir(name: str) -> Path:
    inside = PACKAGE / name
    return inside if inside.is_dir() else PACKAGE.parent / name


TEMPLATES = asset_dir("templates")
STATIC = asset_dir("static")
TRANSLATIONS = asset_dir("translations")

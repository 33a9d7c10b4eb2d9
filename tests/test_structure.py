"""The layers hold: only the web layer speaks HTTP (README, "Architecture").

Everything outside ``facilitation/web/`` raises ``domain.DomainError``s and never
imports the HTTP error tree (``web/errors.py``), any other module of the web layer,
or Starlette; ``web/errors.py``'s ``from_domain`` is the one place a domain error
becomes an HTTP status. Read from the source with ``ast``: no import is run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from facilitation import domain
from facilitation.web import errors

PACKAGE = Path(domain.__file__).parent
WEB = PACKAGE / "web"
# The entry point that assembles the Starlette app from the web layer's routes,
# middlewares and error handlers: it sits above the web layer, so it may import both.
ABOVE_WEB = {PACKAGE / "app.py"}
# What only the web layer may import: itself (the HTTP error tree included) and Starlette.
HTTP = ("facilitation.web", "starlette")


def imported(source: str, package: str) -> set[str]:
    """Every module a module of ``package`` imports, anywhere in ``source`` (in
    functions and under TYPE_CHECKING too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join([*parts[: len(parts) - node.level + 1], *([base] if base else [])])
            found.add(base)
            # ``from facilitation import web`` names a module, not an attribute.
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def imports_of(path: Path) -> set[str]:
    package = ".".join(path.relative_to(PACKAGE.parent).parent.parts)
    return imported(path.read_text(encoding="utf-8"), package)


def speaks_http(module: str) -> bool:
    return any(module == name or module.startswith(f"{name}.") for name in HTTP)


def below_web() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py")
                  if WEB not in p.parents and p not in ABOVE_WEB)


@pytest.mark.parametrize("path", below_web(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_the_web_layer_speaks_http(path: Path) -> None:
    wrong = sorted(m for m in imports_of(path) if speaks_http(m))
    assert not wrong, (
        f"{path.relative_to(PACKAGE.parent)} imports {wrong}: below the web layer, raise a "
        "domain.DomainError (web/errors.py's from_domain answers it) and leave HTTP to web/")


@pytest.mark.parametrize("line", [
    "from facilitation.web.errors import NotFound", "from facilitation.web import errors",
    "from facilitation import web", "import starlette.responses", "from .web import security",
    "def f():\n    from starlette.requests import Request",
])
def test_the_walk_sees_every_kind_of_import(line: str) -> None:
    assert any(speaks_http(m) for m in imported(line, "facilitation")), line


def subclasses(cls: type[domain.DomainError]) -> list[type[domain.DomainError]]:
    return [cls, *(s for sub in cls.__subclasses__() for s in subclasses(sub))]


@pytest.mark.parametrize("kind", subclasses(domain.DomainError), ids=lambda c: c.__name__)
def test_every_domain_error_has_its_http_answer(kind: type[domain.DomainError]) -> None:
    """Each code below the web is answered under the same code, never as a 500."""
    error = kind("A message.") if kind.__init__ is not domain.Unavailable.__init__ else kind()
    answer = errors.from_domain(error)
    assert answer.status in (403, 404, 409, 422, 423, 503)
    assert answer.code == error.code
    assert answer.message == error.message

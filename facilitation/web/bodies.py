"""Reading what a request sends: a JSON body into a schema, the fields a patch sent,
a typed whole number.

Each says what is wrong in the API's terms: 400 for a body that is not JSON, 422
naming the field for one that does not fit its schema (``schemas.py``).
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from facilitation.web.errors import BadRequest, Unprocessable

M = TypeVar("M", bound="BaseModel")


def whole_number(raw: str, field: str, maximum: int) -> int:
    """A whole number typed into a form or a query: ASCII digits only, at most ``maximum``.

    ``str.isdigit`` also accepts "²" and other Unicode digits, which ``int`` refuses (or
    reads as other numbers), and a 23-digit number overflows what orjson and SQLite
    store: each is a 422 that says what is expected, never a 500.
    """
    if not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(maximum)) or int(raw) > maximum:
        raise Unprocessable(f"{field}: must be a whole number from 0 to {maximum}",
                            fields=[{"field": field, "problem": f"a whole number up to {maximum}"}])
    return int(raw)


def parse(model: type[M], raw: bytes) -> M:
    """Validate a JSON body, or raise a 4xx that says what is wrong."""
    if not raw.strip():
        raise BadRequest("The request needs a JSON body.")
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        problems = [
            {"field": ".".join(str(p) for p in e["loc"]) or "(body)", "problem": e["msg"]}
            for e in error.errors(include_url=False, include_input=False)
        ]
        if any(e["type"] == "json_invalid" for e in error.errors()):
            raise BadRequest("The body is not valid JSON.") from None
        first = problems[0]
        raise Unprocessable(
            f"{first['field']}: {first['problem']}", fields=problems
        ) from None


def changed_fields(patch: BaseModel) -> dict[str, Any]:
    """Only the fields the client sent (``null`` included, where it means 'clear')."""
    values = patch.model_dump(mode="json", include=patch.model_fields_set)
    values.pop("version", None)
    for name in ("text", "actor", "role"):
        if name in values and values[name] is None:
            raise Unprocessable(f"{name}: may not be null")
    if values.get("goals", []) is None:
        values["goals"] = []
    for name in ("owner", "responsibility"):
        if name in values and values[name] is None:
            values[name] = ""
    if "status" in values and values["status"] is None:
        raise Unprocessable("status: may not be null")
    return values

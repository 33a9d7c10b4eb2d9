"""The moderator's control page (organiser token)."""

from __future__ import annotations

from starlette.routing import Route, WebSocketRoute


def routes() -> list[Route | WebSocketRoute]:
    return []

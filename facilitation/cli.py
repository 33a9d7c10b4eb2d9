"""``facilitation serve | create-event | edit-event | links | events | export | import | follow-up``."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

from facilitation import config
from facilitation.access import RedactTokens
from facilitation.domain import DomainError
from facilitation.schemas import EventIn, RoomIn

__all__ = ["RedactTokens", "main"]

def log_config(level: str) -> dict[str, Any]:
    from uvicorn.config import LOGGING_CONFIG

    cfg: dict[str, Any] = {**LOGGING_CONFIG}
    cfg["filters"] = {"redact": {"()": "facilitation.access.RedactTokens"}}
    cfg["handlers"] = {k: {**v, "filters": ["redact"]} for k, v in LOGGING_CONFIG["handlers"].items()}
    cfg["loggers"] = {**LOGGING_CONFIG["loggers"], "facilitation": {
        "handlers": ["default"], "level": level.upper(), "propagate": False},
        # websockets' per-socket lines, which repeat uvicorn's access line (wsproto.py).
        "facilitation.websocket": {
            "level": "DEBUG" if level.lower() in ("debug", "trace") else "WARNING"}}
    return cfg


def print_event(event: dict[str, Any], out: Any = sys.stdout) -> None:
    print(f"\n  {event['title']}", file=out)
    print(f"  Moderator (organiser): {event['moderator_url']}", file=out)
    print(f"  Plenary board:         {event['plenary_url']}", file=out)
    for room in event["rooms"]:
        print(f"  Room “{room['name']}”: {room['join_url']}", file=out)
    print(file=out)


async def _with_services(settings: config.Settings, job: Any) -> Any:
    from facilitation.render import Renderer
    from facilitation.services import Services

    services = Services.build(settings, Renderer())
    await services.start()
    try:
        return await job(services)
    finally:
        await services.stop()


def run_job(job: Any, reading: bool = False) -> Any:
    """Run ``job(services)`` against the store the environment names (``reading``: opened
    for reading only, beside a running server); a refusal on the way (no such event,
    invalid input) is told by ``main``."""
    settings, _ = config.with_secrets(config.from_environ())
    return asyncio.run((_reading if reading else _with_services)(settings, job))


async def _create(services: Any, body: EventIn) -> dict[str, Any]:
    event_id, secrets = await services.create_event(body)
    board = await services.board(event_id)
    return services.event_json(board, secrets, None)  # type: ignore[no-any-return]


async def _ensure_demo(services: Any) -> dict[str, Any] | None:
    from facilitation.demo import demo_event

    if await services.store.event_ids():
        return None
    return await _create(services, demo_event())


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    try:
        settings = config.from_environ(host=args.host, port=args.port, workers=args.workers)
    except config.ConfigError as error:
        print(f"facilitation: {error}", file=sys.stderr)
        return 2
    if settings.workers > 1 and not settings.redis_url:
        print(
            "facilitation: --workers > 1 needs a shared store and broker. Set "
            "FACILITATION_REDIS_URL (for example redis://127.0.0.1:6379/0), or run one worker.",
            file=sys.stderr,
        )
        return 2
    if not settings.redis_url:
        # Refused before anything starts: the embedded store serves one process per folder.
        from facilitation.store.sqlite_support import FolderLock

        FolderLock.acquire(settings.data_dir).release()
    settings, generated = config.with_secrets(settings)
    # Tokens reach standard output only when a person is reading it (a terminal): under
    # docker compose or systemd it is a log, and tokens are never logged.
    terminal = sys.stdout.isatty()
    if generated and terminal:
        print(f"\n  Admin token (shown once; kept in {settings.data_dir}/admin_token):")
        print(f"  {settings.admin_token}")
    elif generated:
        print(f"\n  An admin token was generated into {settings.data_dir}/admin_token "
              "(readable by this user only); it creates events (/new).")
    # The app is built again inside uvicorn (in each worker process, with --workers):
    # hand it what the command line decided, so every worker serves the same settings
    # and admin token (the generated ones are kept in the data folder they all read).
    os.environ.update({
        "FACILITATION_HOST": settings.host, "FACILITATION_PORT": str(settings.port),
        "FACILITATION_WORKERS": str(settings.workers),
        "FACILITATION_PUBLIC_URL": settings.public_url,
        "FACILITATION_DATA_DIR": str(settings.data_dir),
    })
    if settings.demo:
        try:
            demo = asyncio.run(_with_services(settings, _ensure_demo))
        except DomainError as error:
            print(f"facilitation: cannot reach the store ({settings.backend}): {error.message}"
                  + (f" Is Redis running at {settings.redis_url}?" if settings.redis_url else ""),
                  file=sys.stderr)
            return 1
        if demo is not None and terminal:
            print("\n  A demo event was created. Open a room in two windows to see it live:")
            print_event(demo)
        elif demo is not None:
            print(f"\n  A demo event was created; its links: facilitation links {demo['id']}")
    print(f"  facilitation is serving on {settings.public_url}  (store: {settings.backend})\n")
    uvicorn.run(
        "facilitation.app:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_config=log_config(settings.log_level),
        log_level=settings.log_level,
        # Why these websocket settings: see the README's "Limits" section.
        ws_max_size=settings.max_body_bytes,
        ws_ping_interval=settings.heartbeat_seconds,
        ws_ping_timeout=settings.heartbeat_seconds,
        ws_per_message_deflate=False,
        ws="facilitation.wsproto:DirectWebSocketProtocol",
        # A request's head must arrive within 10 s (slow clients): see web/httpguard.py.
        http="facilitation.web.httpguard:HeadTimeoutProtocol",
        # When a venue's Wi-Fi comes back, thousands of sockets connect in the same
        # second: a short listen queue would drop their SYNs into the kernel's
        # one-second retry (uvicorn's default is 2048).
        backlog=4096,
        proxy_headers=True,
        timeout_graceful_shutdown=10,
    )
    return 0


def parse_room(raw: str) -> RoomIn:
    name, _, prompt = raw.partition(":")
    return RoomIn(name=name.strip(), prompt=prompt.strip())


def create_event(args: argparse.Namespace) -> int:
    body = EventIn(title=args.title, rooms=[parse_room(r) for r in args.room], goals=args.goal or [])
    print_event(run_job(lambda s: _create(s, body)))
    return 0


def edit_event(args: argparse.Namespace) -> int:
    """Rename an event, add rooms and plan goals (the moderator page's settings, scripted)."""
    from facilitation import moderation
    from facilitation.outcomes.safety import one_line
    from facilitation.schemas import EventPatch, GoalEdit, RoomEdit

    async def job(services: Any) -> dict[str, Any]:
        board = await services.board(args.event)
        event = board.event
        # Stored before they had to be one line: joined, so the edit is accepted.
        rooms = [RoomEdit(id=r["id"], name=one_line(r["name"]), prompt=one_line(r["prompt"]))
                 for r in event["rooms"]]
        goals = [GoalEdit(id=g["id"], text=one_line(g["text"])) for g in event["goals"]]
        for raw in args.room or []:
            room = parse_room(raw)
            rooms.append(RoomEdit(name=room.name, prompt=room.prompt))
        goals += [GoalEdit(text=text) for text in args.goal or []]
        patch = EventPatch(title=args.title, rooms=rooms if args.room else None,
                           goals=goals if args.goal else None)
        board = await moderation.edit_event(services, args.event, patch)
        secrets = await services.secrets(args.event)
        return services.event_json(board, secrets, None)  # type: ignore[no-any-return]

    print_event(run_job(job))
    return 0


def export(args: argparse.Namespace) -> int:
    """Write one outcomes format of an event, exactly as the API serves it."""
    from facilitation.outcomes.transfer import export_event

    if args.output is None and args.format == "xlsx" and sys.stdout.isatty():
        print("facilitation: xlsx is a binary file: give -o FILE", file=sys.stderr)
        return 2
    result = run_job(lambda s: export_event(s, args.event, args.format))
    if args.output is None:
        sys.stdout.buffer.write(result.body)
        sys.stdout.flush()
    else:
        with open(args.output, "wb") as out:
            out.write(result.body)
        print(f"Wrote {args.output} ({len(result.body)} bytes)", file=sys.stderr)
    return 0


def import_(args: argparse.Namespace) -> int:
    """Recreate an event from its outcomes.json under new ids and tokens; print its links."""
    import orjson

    from facilitation.outcomes.transfer import BadExport, import_event

    try:
        with open(args.file, "rb") as source:
            doc = orjson.loads(source.read())
    except (OSError, orjson.JSONDecodeError) as error:
        print(f"facilitation: cannot read {args.file}: {error}", file=sys.stderr)
        return 2

    async def job(services: Any) -> dict[str, Any]:
        event_id, secrets = await import_event(services, doc)
        board = await services.board(event_id)
        return services.event_json(board, secrets, None)  # type: ignore[no-any-return]

    try:
        event = run_job(job)
    except BadExport as error:
        print(f"facilitation: {args.file}: {error}", file=sys.stderr)
        return 2
    print_event(event)
    return 0


async def _reading(settings: config.Settings, job: Any) -> Any:
    """``job(services)`` on a store opened for reading only: ``links`` and ``events`` run
    beside the server, which holds the embedded store's data folder (its lock)."""
    if settings.redis_url:
        return await _with_services(settings, job)
    import sqlite3

    from facilitation.broker.memory import MemoryBroker
    from facilitation.render import Renderer
    from facilitation.services import Services
    from facilitation.store.sqlite import SQLiteStore

    class ReadOnly(SQLiteStore):
        """No lock, no writer: a read-only connection to a file another process writes
        (SQLite's WAL lets it read while that one writes)."""

        async def connect(self) -> None:
            uri = f"{self.path.resolve().as_uri()}?mode=ro"

            def open_read_only() -> None:
                self._db = sqlite3.connect(uri, uri=True, check_same_thread=False,
                                           isolation_level=None)

            await self._run(open_read_only)

        async def disconnect(self) -> None:
            if self._db is not None:
                await self._run(self._db.close)
                self._db = None
            self._thread.shutdown(wait=True)

    if not settings.database_path.exists():
        raise SystemExit(f"facilitation: no database in {settings.data_dir} yet")
    services = Services.build(settings, Renderer())
    services.store = store = ReadOnly(settings.database_path, MemoryBroker())
    await store.connect()
    try:
        return await job(services)
    finally:
        await store.disconnect()


def links(args: argparse.Namespace) -> int:
    """Print an event's links (organiser, plenary, every room), on demand: the one
    command that writes tokens to standard output without being asked to make them."""

    async def job(services: Any) -> dict[str, Any]:
        board = await services.board(args.event)
        secrets = await services.secrets(args.event)
        return services.event_json(board, secrets, None)  # type: ignore[no-any-return]

    print_event(run_job(job, reading=True))
    return 0


def events(args: argparse.Namespace) -> int:
    """List the events (id and title, no token): what ``links`` takes."""
    async def job(services: Any) -> list[tuple[str, str]]:
        found = []
        for event_id in await services.store.event_ids():
            board = await services.board(event_id)
            found.append((event_id, str(board.event.get("title", ""))))
        return found

    for event_id, title in run_job(job, reading=True):
        print(f"{event_id}  {title}")
    return 0


def follow_up(args: argparse.Namespace) -> int:
    """Open follow-up (as the organiser's page does) and print each owner's link to send."""
    from facilitation.followup_writes import links, open_followup

    same = [[n.strip() for n in group.split(";") if n.strip()] for group in args.same or []]

    async def job(services: Any) -> list[dict[str, Any]]:
        board, secrets = await open_followup(services, args.event, same)
        return links(services, board, secrets)

    owners = run_job(job)
    print()
    for owner in owners:
        print(f"  {owner['name']} ({owner['actions']}): {owner['url']}")
    print()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="facilitation", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("serve", help="run the web app")
    run.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    run.add_argument("--port", type=int, default=None, help="port (default 8000)")
    run.add_argument("--workers", type=int, default=None, help="processes (more than 1 needs Redis)")
    run.set_defaults(func=serve)

    create = commands.add_parser("create-event", help="create an event and print its links")
    create.add_argument("--title", required=True)
    create.add_argument("--room", action="append", required=True,
                        help='a room, as "Name: guiding question" (repeat for each room)')
    create.add_argument("--goal", action="append", help="a plan goal (repeat for each goal)")
    create.set_defaults(func=create_event)

    from facilitation.outcomes import FORMATS

    edit = commands.add_parser(
        "edit-event", help="rename an event, add rooms and plan goals; print its links")
    edit.add_argument("event", help="the event id")
    edit.add_argument("--title", help="the new title")
    edit.add_argument("--room", action="append",
                      help='a room to add, as "Name: guiding question" (repeat for each)')
    edit.add_argument("--goal", action="append", help="a plan goal to add (repeat for each)")
    edit.set_defaults(func=edit_event)

    out = commands.add_parser("export", help="write an event's outcomes (as the API serves them)")
    out.add_argument("event", help="the event id")
    out.add_argument("--format", required=True, choices=list(FORMATS),
                     help="json, csv, roles.csv, xlsx, md, html or ics")
    out.add_argument("-o", "--output", help="file to write (default: standard output)")
    out.set_defaults(func=export)

    load = commands.add_parser("import", help="recreate an event from its outcomes.json")
    load.add_argument("file", help="an outcomes.json export")
    load.set_defaults(func=import_)

    show = commands.add_parser("links", help="print an event's links (they carry its tokens)")
    show.add_argument("event", help="the event id (facilitation events lists them)")
    show.set_defaults(func=links)

    listed = commands.add_parser("events", help="list the events: id and title")
    listed.set_defaults(func=events)

    follow = commands.add_parser(
        "follow-up", help="give every owner of an action a follow-up link; print the links")
    follow.add_argument("event", help="the event id")
    follow.add_argument("--same", action="append", metavar='"NAME; NAME"',
                        help="spellings that mean one owner, separated by ';' (repeat per owner)")
    follow.set_defaults(func=follow_up)

    args = parser.parse_args(argv)
    from pydantic import ValidationError

    from facilitation.store.sqlite_support import DataFolderInUse

    try:
        return int(args.func(args))
    except (DataFolderInUse, ValidationError) as error:
        said = error.errors()[0]["msg"] if isinstance(error, ValidationError) else str(error)
        print(f"facilitation: {said}", file=sys.stderr)
        return 2
    except DomainError as error:
        print(f"facilitation: {error.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

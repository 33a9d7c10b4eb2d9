"""Settings from ``FACILITATION_*`` environment variables, in one dataclass.

Every field here is listed in the README's configuration table; a test reads
that table and this module and fails when they disagree.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path

PREFIX = "FACILITATION_"


class ConfigError(ValueError):
    """A setting is present but unusable; the message says which and why."""


@dataclass(frozen=True)
class Settings:
    # Where the SQLite database and generated secrets live.
    data_dir: Path = Path("facilitation-data")
    # Only this token may create events. Generated, kept and printed when unset.
    admin_token: str = ""
    # Signs session cookies. Generated and kept in data_dir when unset.
    secret_key: str = ""
    # Unset: embedded SQLite + in-process broker. Set: Redis store and broker.
    redis_url: str = ""
    # Base of the links the API hands out (join, plenary, moderator URLs).
    public_url: str = "http://127.0.0.1:8000"
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    # Extra origins allowed to open websockets and post forms (comma separated).
    allowed_origins: tuple[str, ...] = ()
    # Create a demo event from the example event when the store has no event yet.
    demo: bool = True
    # Request bodies and websocket messages larger than this are refused.
    max_body_bytes: int = 64 * 1024
    # Writes per browser session per minute before 429 (a burst of 3 s worth is allowed).
    write_rate_per_minute: int = 600
    # Writes per second by all holders of one token together (a room, a load test).
    token_writes_per_second: int = 1000
    # Messages a client may send on one websocket per minute before it is closed.
    socket_messages_per_minute: int = 120
    # Open websockets per browser session; a room shares one join token, so the cap
    # is per session cookie, never per token or IP address.
    max_sockets_per_session: int = 20
    # Open websockets per worker process.
    max_sockets: int = 20000
    # Frames buffered for one slow socket before it is closed (it reconnects and catches up).
    socket_buffer: int = 1000
    # Seconds between websocket pings that detect dead connections (and the time a
    # ping may take), and between the pages' keep-alive frames on a quiet link.
    heartbeat_seconds: float = 20.0
    # Secure cookies (sent over HTTPS only); true when unset and public_url is https.
    cookie_secure: bool = False
    # uvicorn's log level: critical, error, warning, info, debug or trace.
    log_level: str = "info"

    @property
    def database_path(self) -> Path:
        return self.data_dir / "facilitation.sqlite3"

    @property
    def backend(self) -> str:
        return "redis" if self.redis_url else "sqlite"


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"{PREFIX}{name.upper()} must be true or false, not {raw!r}")


def _int(name: str, raw: str, minimum: int = 0) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{PREFIX}{name.upper()} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{PREFIX}{name.upper()} must be at least {minimum}")
    return value


def _float(name: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{PREFIX}{name.upper()} must be a number, not {raw!r}") from None


def setting_names() -> list[str]:
    """Every environment variable this module reads, for the docs test."""
    return [PREFIX + f.name.upper() for f in fields(Settings)]


def from_environ(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for f in fields(Settings):
        raw = env.get(PREFIX + f.name.upper())
        if raw is None:
            continue
        if f.name == "data_dir":
            values[f.name] = Path(raw)
        elif f.name == "allowed_origins":
            values[f.name] = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
        elif f.type == "bool":
            values[f.name] = _bool(f.name, raw)
        elif f.type == "int":
            values[f.name] = _int(f.name, raw, minimum=1 if f.name != "port" else 0)
        elif f.type == "float":
            values[f.name] = _float(f.name, raw)
        else:
            values[f.name] = raw.strip()
    values.update({k: v for k, v in overrides.items() if v is not None})
    if "public_url" not in values and ("host" in values or "port" in values):
        host = str(values.get("host", Settings.host))
        shown = "127.0.0.1" if host in {"0.0.0.0", "::"} else host  # noqa: S104 - a display choice
        values["public_url"] = f"http://{shown}:{values.get('port', Settings.port)}"
    settings = Settings(**values)  # type: ignore[arg-type]
    if settings.public_url.startswith("https://") and "cookie_secure" not in values:
        settings = _replace(settings, cookie_secure=True)
    return _replace(settings, public_url=settings.public_url.rstrip("/"))


def _replace(settings: Settings, **changes: object) -> Settings:
    return replace(settings, **changes)  # type: ignore[arg-type]


def with_secrets(settings: Settings) -> tuple[Settings, bool]:
    """Fill admin token and secret key from the data folder, generating them once.

    Returns the settings and whether the admin token was generated just now (so
    the caller prints it once, and never again).
    """
    # Owner-only: the admin token, the secret key and (store/sqlite.py) the database.
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    generated = False
    changes: dict[str, str] = {}
    for name in ("admin_token", "secret_key"):
        if getattr(settings, name):
            continue
        path = settings.data_dir / name
        if path.exists():
            changes[name] = path.read_text().strip()
            continue
        value = secrets.token_urlsafe(32)
        # Written owner-only: these grant everything.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(value + "\n")
        changes[name] = value
        generated = generated or name == "admin_token"
    return _replace(settings, **changes), generated

"""docker-compose.yml and the Dockerfile: Redis persistent and durable, the app on it
with several workers and health checks. ``docker compose config`` validates the file
where a Docker client with compose exists; the essentials are checked everywhere."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


def compose_client() -> list[str] | None:
    """``docker compose`` (v2), else ``docker-compose`` (v1), else None."""
    if shutil.which("docker") is not None:
        found = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
        if found.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose") is not None:
        return ["docker-compose"]
    return None


def test_docker_compose_config_accepts_the_file() -> None:
    client = compose_client()
    if client is None:
        pytest.skip("no docker compose client here: the structural checks below stand in")
    checked = subprocess.run([*client, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr


def test_redis_is_persistent_and_durable() -> None:
    redis = compose()["services"]["redis"]
    command = [str(part) for part in redis["command"]]
    assert command[0] == "redis-server"
    settings = dict(zip(command[1::2], command[2::2], strict=True))
    assert settings["--appendonly"] == "yes"
    assert settings["--appendfsync"] == "always"  # every 201 is on disk first
    assert settings["--maxmemory-policy"] == "noeviction"
    volume = redis["volumes"][0].split(":")
    assert volume[1] == "/data" and volume[0] in compose()["volumes"]
    assert "redis-cli" in redis["healthcheck"]["test"]


def test_the_app_runs_several_workers_on_redis() -> None:
    app = compose()["services"]["app"]
    env = app["environment"]
    assert env["FACILITATION_REDIS_URL"].startswith("redis://redis:6379")
    assert int(env["FACILITATION_WORKERS"]) > 1
    assert env["FACILITATION_HOST"] == "0.0.0.0"
    assert app["depends_on"]["redis"]["condition"] == "service_healthy"
    assert any("/healthz" in part for part in app["healthcheck"]["test"])
    assert app["build"] == "."
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["facilitation", "serve"]' in dockerfile
    assert "USER facilitation" in dockerfile
    # Every setting the file passes is one the app reads (and the README documents).
    from facilitation.config import setting_names

    assert set(env) <= set(setting_names())

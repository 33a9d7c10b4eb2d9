"""docker-compose.yml and the Dockerfile: Redis persistent and durable, the app on it
with several workers and health checks. ``docker compose config`` validates the file
where a Docker client with compose exists; the essentials are checked everywhere."""

from __future__ import annotations

import fnmatch
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import free_port

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


# -- the image's build context, built as the Dockerfile builds it ---------------------------


def dockerfile_steps() -> list[tuple[str, str]]:
    """(instruction, arguments) of the Dockerfile, continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    steps = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, rest = line.partition(" ")
            steps.append((instruction.upper(), rest.strip()))
    return steps


def ignored(relative: Path) -> bool:
    """Whether ``.dockerignore`` keeps this path out of the build context."""
    patterns = [p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines()
                if p.strip() and not p.startswith("#")]
    parts = relative.parts
    for pattern in patterns:
        bare = pattern.removeprefix("**/")
        if pattern.startswith("**/") and any(fnmatch.fnmatch(p, bare) for p in parts):
            return True
        if fnmatch.fnmatch(str(relative), pattern) or fnmatch.fnmatch(parts[0], pattern):
            return True
    return False


def copy_as_docker(source: Path, target: Path) -> None:
    if source.is_dir():
        for path in sorted(source.rglob("*")):
            if path.is_file() and not ignored(path.relative_to(ROOT)):
                out = target / path.relative_to(source)
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, out)
    elif not ignored(source.relative_to(ROOT)):
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def build_context(into: Path) -> tuple[Path, list[str]]:
    """Copy exactly what the Dockerfile's COPY lines copy, where they copy it, and
    return the build folder and the ``pip install`` arguments of its RUN line."""
    workdir = into
    for instruction, rest in dockerfile_steps():
        if instruction == "WORKDIR":
            workdir = into / rest.lstrip("/")
            workdir.mkdir(parents=True, exist_ok=True)
        elif instruction == "COPY":
            *sources, destination = shlex.split(rest)
            assert not any(s.startswith("--") for s in sources), "COPY flags are not modelled"
            target = workdir / destination
            for name in sources:
                source = ROOT / name
                assert source.exists(), f"COPY {name}: not in the repository"
                copy_as_docker(source, target / source.name if destination.endswith("/")
                               and len(sources) > 1 else target)
        elif instruction == "RUN" and "pip install" in rest:
            command = rest.split("&&")[0].split()
            return workdir, command[command.index("install") + 1:]
    raise AssertionError("the Dockerfile has no RUN pip install")


@pytest.mark.slow
def test_the_image_context_builds_and_its_console_script_serves(tmp_path: Path) -> None:
    """What ``docker build`` does, without a daemon: only the copied files, in an empty
    folder, ``pip install`` into a fresh virtual environment, then the image's command."""
    context, pip_args = build_context(tmp_path / "image")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    installed = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *pip_args],
                               cwd=context, capture_output=True, text=True, timeout=900)
    assert installed.returncode == 0, installed.stderr[-3000:]
    shutil.rmtree(tmp_path / "image")  # as the image does: nothing runs from the sources
    port = free_port()
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path),
           "FACILITATION_DATA_DIR": str(tmp_path / "data"), "FACILITATION_HOST": "127.0.0.1",
           "FACILITATION_PORT": str(port), "PYTHONUNBUFFERED": "1"}
    cmd = json.loads(next(rest for ins, rest in dockerfile_steps() if ins == "CMD"))
    process = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()[0]
                assert time.monotonic() < deadline, "the image's command did not serve"
                time.sleep(0.2)
        assert health.status_code == 200, health.text
        # Templates, translations and static files came along: a page renders in French.
        home = httpx.get(f"http://127.0.0.1:{port}/", headers={"Accept-Language": "fr"})
        assert home.status_code == 200 and 'lang="fr"' in home.text
        css = httpx.get(f"http://127.0.0.1:{port}/static/app.css")
        assert css.status_code == 200
    finally:
        process.terminate()
        process.wait(20)


def docker_daemon() -> list[str] | None:
    client = compose_client()
    if client is None or shutil.which("docker") is None:
        return None
    running = subprocess.run(["docker", "info"], capture_output=True, timeout=30)
    return client if running.returncode == 0 else None


@pytest.mark.slow
def test_docker_compose_builds_and_serves_on_redis_with_several_workers() -> None:
    client = docker_daemon()
    if client is None:
        pytest.skip("no Docker daemon here: the image context test above builds what the image holds")
    project = f"facilitation-test-{uuid.uuid4().hex[:8]}"
    base = [*client, "-p", project, "-f", str(ROOT / "docker-compose.yml")]
    port = free_port()
    env = {**os.environ, "FACILITATION_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    override = ROOT / f".compose-{project}.yml"
    override.write_text(f"services:\n  app:\n    ports: !override\n      - \"127.0.0.1:{port}:8000\"\n")
    files = [*base, "-f", str(override)]
    try:
        built = subprocess.run([*files, "build"], capture_output=True, text=True, timeout=1800,
                               env=env)
        assert built.returncode == 0, built.stderr[-3000:]
        up = subprocess.run([*files, "up", "-d"], capture_output=True, text=True, timeout=600,
                            env=env)
        assert up.returncode == 0, up.stderr[-3000:]
        deadline = time.monotonic() + 180
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                if health.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the compose app never became healthy"
            time.sleep(1)
        assert health.json()["store"] == "redis"
    finally:
        subprocess.run([*files, "down", "-v"], capture_output=True, timeout=300, env=env)
        override.unlink(missing_ok=True)


def test_ci_pins_exactly_the_floors_of_the_runtime_dependencies() -> None:
    """.ci/lowest.txt (what CI runs the stream and socket tests on) is pyproject.toml's
    floors, one for each runtime dependency: a raised floor cannot go untested."""
    import tomllib

    from packaging.requirements import Requirement
    from packaging.version import Version

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    floors = {}
    for raw in declared:
        requirement = Requirement(raw)
        lowest = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        assert lowest, f"{raw}: no floor"
        floors[requirement.name.lower()] = lowest[0]
    pinned = {}
    for line in (ROOT / ".ci" / "lowest.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pinned[name.strip().lower()] = version.strip()
    assert set(pinned) == set(floors)
    for name, floor in floors.items():
        assert Version(pinned[name]) == Version(floor), (name, floor, pinned[name])

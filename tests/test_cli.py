"""The command line, run as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run(args: list[str], data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "FACILITATION_DATA_DIR": str(data_dir), **env}
    environ.pop("FACILITATION_REDIS_URL", None) if "FACILITATION_REDIS_URL" not in env else None
    return subprocess.run([sys.executable, "-m", "facilitation.cli", *args], env=environ,
                          capture_output=True, text=True, timeout=60)


def test_several_workers_without_redis_refuse_to_start(tmp_path: Path) -> None:
    result = run(["serve", "--workers", "2"], tmp_path)
    assert result.returncode == 2
    assert "FACILITATION_REDIS_URL" in result.stderr


def test_create_event_prints_every_link(tmp_path: Path) -> None:
    result = run(["create-event", "--title", "Regional preparedness",
                  "--room", "Ports: How do we share a situational picture?",
                  "--room", "Citizens: What should every household know?",
                  "--goal", "Joint exercises"], tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Regional preparedness" in out
    assert out.count("/r/") == 2 and "?t=" in out
    assert "/moderate?t=" in out and "/plenary?t=" in out


def test_bad_settings_are_explained(tmp_path: Path) -> None:
    result = run(["serve"], tmp_path, FACILITATION_PORT="eighty")
    assert result.returncode == 2 and "FACILITATION_PORT" in result.stderr


def test_edit_event_renames_and_adds_a_room_and_a_goal(tmp_path: Path) -> None:
    made = run(["create-event", "--title", "Regional preparedness",
                "--room", "Ports: How do we share a situational picture?"], tmp_path)
    event_id = made.stdout.split("/e/", 1)[1].split("/", 1)[0]
    result = run(["edit-event", event_id, "--title", "Regional preparedness, day 2",
                  "--room", "Citizens: What should every household know?",
                  "--goal", "Informed citizens"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Regional preparedness, day 2" in result.stdout
    assert result.stdout.count("/r/") == 2 and "Citizens" in result.stdout
    unknown = run(["edit-event", "nope", "--title", "X"], tmp_path)
    assert unknown.returncode == 1 and "no such event" in unknown.stderr.lower()

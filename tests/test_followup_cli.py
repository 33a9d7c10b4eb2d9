"""``facilitation follow-up EVENT``: the owners' links, printed to send."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.test_cli import run

SETUP = """
import asyncio, sys, uuid
from facilitation import config
from facilitation.cli import _create, _with_services
from facilitation.domain import ITEM, make_command
from facilitation.schemas import EventIn, RoomIn

async def job(services):
    event = await _create(services, EventIn(title="After", rooms=[RoomIn(name="Ports")]))
    room = event["rooms"][0]["id"]
    for text, owner in (("List", "Port of Bergen"), ("Drill", "port of  bergen"),
                        ("Plan", "Bergen Port"), ("Forum", "County Governor")):
        await services.submit(event["id"], make_command(
            ITEM, "create", str(uuid.uuid4()), room, {"text": text, "owner": owner}))
    return event["id"]

settings, _ = config.with_secrets(config.from_environ())
print(asyncio.run(_with_services(settings, job)))
"""


def test_follow_up_prints_one_link_per_owner_and_joins_spellings(tmp_path: Path) -> None:
    made = subprocess.run([sys.executable, "-c", SETUP], capture_output=True, text=True,
                          timeout=60, env={**{k: v for k, v in os.environ.items()
                                              if k != "FACILITATION_REDIS_URL"},
                                           "FACILITATION_DATA_DIR": str(tmp_path)})
    assert made.returncode == 0, made.stderr
    event_id = made.stdout.strip().splitlines()[-1]
    first = run(["follow-up", event_id], tmp_path)
    assert first.returncode == 0, first.stderr
    links = re.findall(r"^  (.+) \((\d+)\): (http\S+/o/\w+\?t=\S+)$", first.stdout, re.M)
    assert sorted((name, n) for name, n, _ in links) == [
        ("Bergen Port", "1"), ("County Governor", "1"), ("Port of Bergen", "2")]
    joined = run(["follow-up", event_id, "--same", "Port of Bergen; Bergen Port"], tmp_path)
    assert joined.returncode == 0, joined.stderr
    again = dict((name, url) for name, _, url in
                 re.findall(r"^  (.+) \((\d+)\): (\S+)$", joined.stdout, re.M))
    assert sorted(again) == ["County Governor", "Port of Bergen"]
    assert again["Port of Bergen"] == dict((n, u) for n, _, u in links)["Port of Bergen"]
    assert "(3)" in joined.stdout
    unknown = run(["follow-up", "nope"], tmp_path)
    assert unknown.returncode == 1 and "no such event" in unknown.stderr.lower()

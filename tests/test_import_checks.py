"""`facilitation import` checks a file with the API's rules: a bad field refuses the whole file.

Real files through the real command line, on SQLite and on the shared Redis (per-event
keys on db 0, as the other tests use it; nothing is flushed): each bad file exits 2 with
the path of its first bad field and creates no event; the good one is imported. Odd
values from Hypothesis are either refused with the field's path or imported values every
export can write.
"""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import orjson
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facilitation import cli
from facilitation.domain import vote_id
from facilitation.followup import owner_id
from facilitation.outcomes import FORMATS, export
from facilitation.outcomes.intake import BadExport, check
from facilitation.outcomes.sample import Log
from facilitation.schemas import ItemIn
from facilitation.store.redis import EVENTS, key
from tests.test_cli import run

Doc = dict[str, Any]


def good_doc(title: str) -> Doc:
    """An export of a small event with every kind of entity, made as the server makes it."""
    log = Log("0123456789abcdef")
    log.do("event", "create", log.board.event_id, None, {
        "title": title, "language": "en",
        "rooms": [{"id": "r1", "name": "Ports", "prompt": "Who convenes whom?"},
                  {"id": "r2", "name": "Citizens", "prompt": ""}],
        "goals": [{"id": "g1", "text": "Shared situational picture"}]})
    a, b, c, m = (str(uuid.uuid4()) for _ in range(4))
    log.do("item", "create", a, "r1", {"text": "One contact list", "owner": "Port of Bergen",
                                       "due": "2027-01-31", "goals": ["g1"], "status": "agreed",
                                       "author": "Kari"})
    log.do("item", "create", b, "r2", {"text": "A contact list too", "owner": "County"})
    log.do("item", "create", c, "r1", {"text": "A drill in March", "owner": "Port of Bergen"})
    log.do("role", "create", str(uuid.uuid4()), "r1",
           {"actor": "Port", "role": "Lead", "responsibility": "Drills"})
    log.do("merge", "create", m, None, {"text": "One contact list", "items": [a, b],
                                        "rooms": ["r1", "r2"], "goals": ["g1"]})
    log.do("vote", "create", vote_id("p1", m), None, {"item": m, "voter": "p1"})
    port = owner_id("port of bergen")
    log.do("owner", "create", port, None, {"name": "Port of Bergen", "keys": ["port of bergen"]})
    log.do("progress", "create", c, "r1", {"status": "in_progress", "progress": 40,
                                           "note": "Booked", "due": "2027-03-01", "by": port})
    return orjson.loads(export(log.board, "json").body)  # type: ignore[no-any-return]


def put(path: str, value: Any) -> Callable[[Doc], None]:
    """Set ``actions.0.due`` (dots; numbers index lists) to ``value``."""
    *parents, last = path.split(".")

    def edit(doc: Doc) -> None:
        at: Any = doc
        for part in parents:
            at = at[int(part)] if part.isdigit() else at[part]
        at[int(last) if last.isdigit() else last] = value
    return edit


def twice(doc: Doc) -> None:
    doc["actions"].append(copy.deepcopy(doc["actions"][0]))


def many_rooms(doc: Doc) -> None:
    doc["event"]["rooms"] += [{"id": f"x{n}", "name": f"Room {n}", "prompt": ""}
                              for n in range(100)]


# Each: what is wrong, and the path the refusal names.
BAD: list[tuple[Callable[[Doc], None], str]] = [
    (put("actions.0.due", "9999-12-31"), "actions[0].due"),
    (put("actions.0.due", "1999-12-31"), "actions[0].due"),
    (put("actions.1.text", "x" * 2001), "actions[1].text"),
    (put("actions.1.owner", "Port\x00of Bergen"), "actions[1].owner"),
    (put("actions.2.text", "ESC \x1b[31m red"), "actions[2].text"),
    (put("actions.0.status", "maybe"), "actions[0].status"),
    (put("actions.0.goals", ["g1", "no-such-goal"]), "actions[0].goals[1]"),
    (put("actions.2.room", "elsewhere"), "actions[2].room"),
    (put("actions.0.id", "not-a-uuid"), "actions[0].id"),
    (put("actions.0.script", "<script>"), "actions[0].script"),
    (twice, "actions[3].id"),
    (put("roles.0.actor", "a" * 201), "roles[0].actor"),
    (put("merges.0.due", "0001-01-01"), "merges[0].due"),
    (put("merges.0.rooms", ["r1", "gone"]), "merges[0].rooms[1]"),
    (put("votes.0.voter", "p2"), "votes[0].id"),
    (put("owners.0.id", "../../admin"), "owners[0].id"),
    (put("progress.0.progress", 101), "progress[0].progress"),
    (put("progress.0.status", "finished"), "progress[0].status"),
    (put("progress.0.history.0.due", "2200-01-01"), "progress[0].history[0].due"),
    (put("event.title", "Bell\x07"), "event.title"),
    (put("event.rooms.1.id", "r 2"), "event.rooms[1].id"),
    (put("event.goals.0.text", ""), "event.goals[0].text"),
    (many_rooms, "event.rooms"),
]


def titles_made(backend: str, folder: Path, redis_url: str, since: float) -> list[str]:
    """The titles of the events the store holds (Redis: those created since ``since``:
    other tests share db 0)."""
    if backend == "sqlite":
        listed = run(["events"], folder)
        assert listed.returncode == 0, listed.stderr
        return [line.split("  ", 1)[1] for line in listed.stdout.splitlines() if "  " in line]
    client = redis.Redis.from_url(redis_url)
    try:
        titles = []
        for event_id in client.zrangebyscore(EVENTS, since - 1, "+inf"):
            first = client.lindex(key(cast(bytes, event_id).decode(), "log"), 0)
            if first is not None:
                titles.append(orjson.loads(first)["data"].get("title", ""))
        return titles
    finally:
        client.close()


def subprocess_import(source: Path, data_dir: Path, env: dict[str, str],
                      monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                      ) -> tuple[int, str]:
    """``facilitation import SOURCE`` as its own process: exit code and standard error."""
    result = run(["import", str(source)], data_dir, **env)
    return result.returncode, result.stderr.strip()


def in_process_import(source: Path, data_dir: Path, env: dict[str, str],
                      monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                      ) -> tuple[int, str]:
    """The same command through ``cli.main`` in this process, with the same environment."""
    with monkeypatch.context() as patched:
        patched.setenv("FACILITATION_DATA_DIR", str(data_dir))
        patched.delenv("FACILITATION_REDIS_URL", raising=False)
        for name, value in env.items():
            patched.setenv(name, value)
        capsys.readouterr()
        code = cli.main(["import", str(source)])
        return code, capsys.readouterr().err.strip()


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_a_bad_file_is_refused_whole_with_the_path_of_its_field(
        backend: str, tmp_path: Path, request: pytest.FixtureRequest,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    env: dict[str, str] = {}
    redis_url = ""
    if backend == "redis":
        redis_url = request.getfixturevalue("redis_server").url()
        env["FACILITATION_REDIS_URL"] = redis_url
    since = time.time()
    title = f"Import checks {uuid.uuid4().hex}"
    for n, (edit, path) in enumerate(BAD):
        doc = good_doc(title)
        edit(doc)
        source = tmp_path / "bad.json"
        source.write_bytes(orjson.dumps(doc))
        # The first through a real process; the rest through the same ``main`` in this
        # one (a process start costs a second: 23 of them were most of this test).
        code, said = (subprocess_import if n == 0 else in_process_import)(
            source, tmp_path, env, monkeypatch, capsys)
        assert code == 2, (path, said)
        assert f"{source}: {path}:" in said or f"{source}: {path} " in said, (path, said)
        assert "Traceback" not in said
    assert title not in titles_made(backend, tmp_path, redis_url, since)
    good = tmp_path / "good.json"
    good.write_bytes(orjson.dumps(good_doc(title)))
    result = run(["import", str(good)], tmp_path, **env)
    assert result.returncode == 0, result.stderr
    assert titles_made(backend, tmp_path, redis_url, since).count(title) == 1


ODD = st.one_of(
    st.text(max_size=30), st.text(min_size=1995, max_size=2005, alphabet="ab \n\x00\u2028"),
    st.sampled_from(["0001-01-01", "1999-12-31", "2000-01-01", "2100-12-31", "2101-01-01",
                     "9999-12-31", "2027-02-30", "", "agreed", "done", "dropped", "g1"]),
    st.integers(-2, 2**70), st.none(), st.booleans(), st.lists(st.text(max_size=5), max_size=3),
)
FIELDS = ["due", "text", "owner", "status", "goals", "author"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from(FIELDS), value=ODD)
def test_odd_values_are_refused_by_path_or_make_a_writable_event(field: str, value: Any) -> None:
    doc = good_doc("Odd values")
    doc["actions"][0][field] = value
    try:
        plan = check(doc)
    except BadExport as error:
        assert str(error).startswith(f"actions[0].{field}"), str(error)
        return
    action = plan["actions"][0]
    # What was let in is what the API lets in ...
    ItemIn.model_validate_json(orjson.dumps({k: v for k, v in action.items()
                                             if k in ItemIn.model_fields}))
    # ... and every export writes it.
    log = Log("0123456789abcdef")
    log.do("event", "create", log.board.event_id, None, {
        "title": "Odd", "rooms": [{"id": "r1", "name": "Ports", "prompt": ""}],
        "goals": [{"id": "g1", "text": "Goal"}]})
    log.do("item", "create", action["id"], "r1",
           {k: v for k, v in action.items() if k not in ("id", "room")})
    for fmt in FORMATS:
        assert export(log.board, fmt).body

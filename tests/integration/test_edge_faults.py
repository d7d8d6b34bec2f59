"""Edge faults with real processes on the real broker (issue 12, items 2, 5 and 6).

- A process holding ``spool/.lock``: the installed hook (``hivemind capture``) returns at
  once for every call, and agentd delivers every event once the lock is free: exact
  event ids, per-session seq 0..n-1 in the order of the hook calls, no dead letter.
- A spooled record that passes the contract but is not UTF-8 (a lone surrogate in the
  session id) is dead-lettered by agentd, which keeps forwarding the good ones.
- Hostile records on the compacted skills topic (a key that is not UTF-8, a key that is
  not ``<workspace>/<name>``, a value that is not a skill, a body carrying a secret, an
  absurd record timestamp) and a symlinked skill directory: ``hivemind sync`` and every
  agentd sync pass keep working, write the good skills, count and report the rest, and
  write nothing through the symlink.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hivemind_kafka.producers.agentd import launch as agentd
from hivemind_kafka.producers.hook.spool import Spool, spool_dir
from hivemind_kafka.producers.sync.skill_sync import ProjectRegistry
from hivemind_kafka.schemas.dead_letters import decode_dead_letter
from hivemind_kafka.schemas.events import decode_turn_record
from hivemind_kafka.schemas.holdout import is_held_out
from hivemind_kafka.schemas.skills import Decision, Skill, SkillProvenance, encode_skill, skill_key
from tests.integration.test_sync_agentd import edge_env
from tests.support.polling import wait_until
from tests.support.topic_reader import read_topic

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
HOOK = [str(Path(sys.executable).parent / "hivemind"), "capture"]


def _home(tmp_path: Path, agent: str = "cc-edge") -> Path:
    home = tmp_path / "hm"
    home.mkdir()
    (home / "config.json").write_text(json.dumps({
        "workspace_id": "ws-test", "agent_id": agent, "agentd_autostart": False}))
    return home


def _hook(env: dict, payload: dict) -> None:
    done = subprocess.run(HOOK, input=json.dumps(payload).encode(), env=env,
                          capture_output=True, timeout=60)  # a hang detector only
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")


def _tool_call(sid: str, step: int) -> dict:
    return {"session_id": sid, "cwd": "/work/app", "hook_event_name": "PreToolUse",
            "tool_name": "Bash", "tool_input": {"command": f"step {step}"},
            "tool_use_id": f"toolu_{sid}_{step}"}


class AgentdProcess:
    """``python -m hivemind_kafka.producers.agentd.daemon`` as agentd runs: its own session, log to a file."""

    def __init__(self, env: dict, home: Path, *args: str) -> None:
        self.log = home / "agentd-test.log"
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hivemind_kafka.producers.agentd.daemon", "--home", str(home), *args],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        self.home = home

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def _events(settings, sid: str) -> list:
    return [e for _k, v in read_topic(settings, settings.topics.turns)
            for e in decode_turn_record(v) if e.session_id == sid]


def test_held_spool_lock_costs_the_hook_no_wait_and_kafka_no_event(settings, tmp_path):
    home = _home(tmp_path)
    env = edge_env(settings, home, tmp_path)
    for step in range(3):
        _hook(env, _tool_call("s-held", step))
    daemon = AgentdProcess(env, home)
    holder = None
    try:
        wait_until(lambda: len(_events(settings, "s-held")) == 3, 60,
                   "the three events spooled before the lock was taken")
        holder = subprocess.Popen(
            [sys.executable, "-c", "import fcntl, os, sys; fd = os.open(sys.argv[1], "
             "os.O_RDWR | os.O_CREAT, 0o600); fcntl.flock(fd, fcntl.LOCK_EX); "
             "print(flush=True); sys.stdin.read()", str(home / "spool" / ".lock")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert holder.stdout is not None and holder.stdout.readline() == b"\n"
        for step in range(3, 9):
            _hook(env, _tool_call("s-held", step))
        _hook(env, _tool_call("s-other", 0))
        assert Spool(spool_dir(home)).stats().deferred == 7
        assert len(_events(settings, "s-held")) == 3  # waiting in side files, not lost
        holder.communicate(b"", timeout=30)  # the holder lets go
        events = wait_until(lambda: (lambda es: len(es) >= 9 and es)(_events(settings, "s-held")),
                            60, "the deferred events delivered after the lock was freed")
        assert wait_until(lambda: _events(settings, "s-other"), 30, "the other session")
    finally:
        if holder is not None and holder.poll() is None:
            holder.kill()
            holder.wait(timeout=10)
        daemon.stop()
    assert len(events) == 9 and len({e.event_id for e in events}) == 9  # no duplicate
    by_seq = sorted(events, key=lambda e: e.seq)
    assert [e.seq for e in by_seq] == list(range(9))
    assert [json.loads(e.tool_input or "{}")["command"] for e in by_seq] == [
        f"step {i}" for i in range(9)]  # seq follows the order of the hook calls
    assert read_topic(settings, settings.topics.dlq) == []
    assert Spool(spool_dir(home)).stats().records == 0


def test_unencodable_spooled_record_is_dead_lettered_and_forwarding_goes_on(settings, tmp_path):
    home = _home(tmp_path)
    env = edge_env(settings, home, tmp_path)
    _hook(env, _tool_call("s-good", 0))
    done = subprocess.run(HOOK, env=env, capture_output=True, timeout=60, input=(
        b'{"session_id":"\\ud800","cwd":"/w","hook_event_name":"Stop"}'))
    assert done.returncode == 0
    _hook(env, _tool_call("s-good", 1))
    daemon = AgentdProcess(env, home)
    try:
        letters = wait_until(lambda: [decode_dead_letter(v) for _k, v in
                                      read_topic(settings, settings.topics.dlq)], 60,
                             "the poison record on the DLQ")
        events = wait_until(lambda: (lambda es: len(es) == 2 and es)(_events(settings, "s-good")),
                            60, "both good events")
        wait_until(lambda: Spool(spool_dir(home)).stats().records == 0, 30, "spool drained")
        assert daemon.proc.poll() is None  # agentd did not die on it
    finally:
        daemon.stop()
    assert [(dl.stage, dl.reason.value) for dl in letters] == [("forwarder",
                                                               "contract_violation")]
    assert "surrogates not allowed" in letters[0].detail
    assert sorted(e.seq for e in events) == [0, 1]


def _skill(name: str, *, body: str = "Run `make test` from the repository root.",
           version: int = 1, workspace: str = "ws-test") -> Skill:
    return Skill(workspace_id=workspace, name=name, version=version, body=body,
                 description=f"Use when you need to {name.replace('-', ' ')} here",
                 provenance=SkillProvenance(source_session_ids=["s0"], codifier="offline",
                                            decision=Decision.KEEP,
                                            created_at=datetime(2026, 11, 1, tzinfo=UTC)))


def _produce_raw(settings, records: list[tuple[bytes | None, bytes, int | None]]) -> None:
    """Records as anyone with write access could put them on the skills topic."""
    from confluent_kafka import Producer

    from hivemind_kafka.runtime.kafka import producer_config

    producer = Producer(producer_config(settings))
    errors: list = []
    for key, value, ts in records:
        producer.produce(settings.topics.skills, value=value, key=key,
                         timestamp=ts or 0,
                         on_delivery=lambda err, _m: err is not None and errors.append(err))
    assert producer.flush(30) == 0 and errors == []


GOOD = ("run-tests", "deploy-preview")


def _poison_topic(settings) -> None:
    _produce_raw(settings, [
        (b"ws-test/\xff\xfe", encode_skill(_skill("run-tests")), None),    # not UTF-8
        (b"no-slash-at-all", encode_skill(_skill("run-tests")), None),      # not ws/name
        (skill_key("ws-test", "lint"), b"\x00not a skill", None),           # value
        (skill_key("ws-test", "leak"),
         encode_skill(_skill("leak", body="Log in with ghp_Qm3vT8xLp2RzK9wYc4NbH7sJdF6gA1eU5oVi")), None),
        (skill_key("ws-test", "evil"), encode_skill(_skill("evil")), None),  # symlinked dir
        (skill_key("ws-test", "run-tests"), encode_skill(_skill("run-tests")), None),
        (skill_key("ws-test", "deploy-preview"), encode_skill(_skill("deploy-preview")),
         253_402_300_800_000),                                              # year 10000
    ])


def _project_with_symlinked_skill(tmp_path: Path) -> tuple[Path, Path]:
    project, outside = tmp_path / "proj", tmp_path / "outside"
    (project / ".git").mkdir(parents=True)
    (project / ".claude" / "skills").mkdir(parents=True)
    outside.mkdir()
    (project / ".claude" / "skills" / "evil").symlink_to(outside)
    return project, outside


def _agent() -> str:
    names = (*GOOD, "leak", "evil", "late-skill")
    return next(f"agent-{i}" for i in range(10_000)
                if not any(is_held_out(n, f"agent-{i}") for n in names))


def test_hivemind_sync_survives_hostile_skill_records_and_a_symlinked_skill(settings,
                                                                            tmp_path):
    _poison_topic(settings)
    project, outside = _project_with_symlinked_skill(tmp_path)
    home = _home(tmp_path, _agent())
    env = edge_env(settings, home, tmp_path)
    done = subprocess.run([sys.executable, "-m", "hivemind_kafka.cli.main", "sync", "--project",
                           str(project), "--timeout", "20"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    skills = project / ".claude" / "skills"
    assert sorted(p.name for p in skills.iterdir() if (p / "SKILL.md").is_file()
                  and not p.is_symlink()) == sorted(GOOD)
    assert os.listdir(outside) == []  # nothing written through the symlink
    assert "skipped records: 2 with a key that is not <workspace>/<name> in UTF-8, " \
           "1 whose value is not a skill" in out
    assert "REFUSED evil" in out and "is a symlink" in out
    assert "refused by the guards (secret or injection), nothing written: leak" in out
    assert not (skills / "leak").exists()


def test_every_agentd_sync_pass_survives_hostile_skill_records(settings, tmp_path):
    _poison_topic(settings)
    project, outside = _project_with_symlinked_skill(tmp_path)
    home = _home(tmp_path, _agent())
    ProjectRegistry(home).add(project)
    env = edge_env(settings, home, tmp_path)
    daemon = AgentdProcess(env, home, "--sync-interval", "1")
    skills = project / ".claude" / "skills"
    try:
        wait_until(lambda: all((skills / n / "SKILL.md").is_file() for n in GOOD), 60,
                   "the good skills synced by agentd")
        _produce_raw(settings, [(skill_key("ws-test", "late-skill"),
                                 encode_skill(_skill("late-skill")), None)])
        wait_until((skills / "late-skill" / "SKILL.md").is_file, 60,
                   "a skill published later, synced by a later pass")
        wait_until(lambda: "bad_keys=2" in daemon.text(), 30, "the pass reporting bad keys")
        assert daemon.proc.poll() is None
    finally:
        daemon.stop()
    assert os.listdir(outside) == [] and not (skills / "leak").exists()
    log = daemon.text()
    assert "skill sync pass failed" not in log and "Traceback" not in log
    assert agentd.running_pid(home) is None


"""install/uninstall and the home's files: a symlinked settings file stays a symlink,
the saved settings copy and the config are private, an older home is tightened."""

from __future__ import annotations

import argparse
import json
import os
import stat
from pathlib import Path

import pytest

from hivemind_kafka.cli import edge
from hivemind_kafka.producers import private
from hivemind_kafka.producers.install.claude_code import (
    HOME_ENTRIES,
    install_hooks,
    tighten_home,
    uninstall_hooks,
    write_config,
)
from hivemind_kafka.runtime.errors import SettingsFileInvalid
from hivemind_kafka.runtime.settings import Settings

CMD = "/opt/venv/bin/hivemind capture"
ORIGINAL = b'{\n  "env": {"ANTHROPIC_API_KEY": "sk-ant-not-a-real-key"},\n  "model": "opus"\n}'


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture
def dotfiles(tmp_path) -> tuple[Path, Path, Path]:
    """~/.claude/settings.json -> ~/dotfiles/claude/settings.json, as dotfile managers do."""
    target = tmp_path / "dotfiles" / "claude" / "settings.json"
    target.parent.mkdir(parents=True)
    target.write_bytes(ORIGINAL)
    os.chmod(target, 0o640)
    link = tmp_path / "user" / ".claude" / "settings.json"
    link.parent.mkdir(parents=True)
    link.symlink_to(Path("..", "..", "dotfiles", "claude", "settings.json"))
    return link, target, tmp_path / "hm"


def test_install_edits_the_target_of_a_symlinked_settings_file_and_keeps_the_link(dotfiles):
    link, target, home = dotfiles
    before = os.readlink(link)
    assert install_hooks(link, home=home, command=CMD).action == "installed"
    assert link.is_symlink() and os.readlink(link) == before
    assert CMD in target.read_text()
    assert _mode(target) == 0o640  # the user's mode is kept
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".")]  # no temp left
    assert uninstall_hooks(link, home=home).action == "restored"
    assert link.is_symlink() and os.readlink(link) == before
    assert target.read_bytes() == ORIGINAL


def test_uninstall_after_user_edits_through_the_link_keeps_the_link(dotfiles):
    link, target, home = dotfiles
    install_hooks(link, home=home, command=CMD)
    data = json.loads(target.read_text())
    data["theme"] = "dark"
    target.write_text(json.dumps(data))
    assert uninstall_hooks(link, home=home).action == "removed"
    assert link.is_symlink()
    assert json.loads(target.read_text()) == {**json.loads(ORIGINAL), "theme": "dark"}


def test_dangling_link_gets_its_target_created_and_uninstall_removes_only_that(tmp_path):
    link = tmp_path / ".claude" / "settings.json"
    link.parent.mkdir()
    (tmp_path / "dots").mkdir()
    link.symlink_to(tmp_path / "dots" / "settings.json")
    install_hooks(link, home=tmp_path / "hm", command=CMD)
    assert link.is_symlink() and (tmp_path / "dots" / "settings.json").is_file()
    assert _mode(tmp_path / "dots" / "settings.json") == 0o600
    assert uninstall_hooks(link, home=tmp_path / "hm").action == "restored"
    assert link.is_symlink() and not link.exists()  # dangling again, as the user had it


@pytest.mark.parametrize("kind", ["missing-dir", "loop"])
def test_unresolvable_link_is_refused_with_the_fix_and_nothing_written(tmp_path, kind):
    link = tmp_path / ".claude" / "settings.json"
    link.parent.mkdir()
    if kind == "loop":
        other = tmp_path / ".claude" / "other.json"
        other.symlink_to(link)
        link.symlink_to(other)
    else:
        link.symlink_to(tmp_path / "nowhere" / "settings.json")
    with pytest.raises(SettingsFileInvalid, match="symlink") as err:
        install_hooks(link, home=tmp_path / "hm", command=CMD)
    assert "run the command again" in str(err.value)
    assert link.is_symlink()
    assert not (tmp_path / "hm" / "install").exists() or not list(
        (tmp_path / "hm" / "install").iterdir())


def test_saved_settings_copy_and_config_are_private_whatever_the_umask(tmp_path):
    settings_file = tmp_path / "proj" / ".claude" / "settings.json"
    settings_file.parent.mkdir(parents=True)
    settings_file.write_bytes(ORIGINAL)
    home = tmp_path / "a" / "hm"
    old = os.umask(0)
    try:
        install_hooks(settings_file, home=home, command=CMD)
        write_config(home, workspace_id="ws", agent_kind="coding", bootstrap=None,
                     max_field_bytes=16384)
    finally:
        os.umask(old)
    (state,) = (home / "install").iterdir()
    assert _mode(state) == 0o600 and _mode(home / "install") == 0o700
    assert _mode(home / "config.json") == 0o600 and _mode(home) == 0o700
    assert _mode(tmp_path / "a") == 0o700  # missing parents are created private too


def test_tighten_home_fixes_an_old_home_but_leaves_other_files_and_links(tmp_path):
    home = tmp_path / "hm"
    for rel in ("spool/seg-000000000001.jsonl", "logs/agentd.log", "install/x.json",
                "config.json", "lake/events/part-0.parquet", "notes/mine.txt"):
        path = home / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    for path in [home, *home.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    outside = tmp_path / "outside.txt"
    outside.write_text("x")
    os.chmod(outside, 0o644)
    (home / "logs" / "link").symlink_to(outside)
    changed = tighten_home(home)
    assert changed == 1 + 4 + 6  # the home, 4 directories, 6 files (not notes/)
    for rel in ("spool", "logs", "install", "lake", "lake/events"):
        assert _mode(home / rel) == 0o700, rel
    for rel in ("spool/seg-000000000001.jsonl", "logs/agentd.log", "install/x.json",
                "config.json", "lake/events/part-0.parquet"):
        assert _mode(home / rel) == 0o600, rel
    assert _mode(home / "notes") == 0o755 and _mode(home / "notes" / "mine.txt") == 0o644
    assert _mode(outside) == 0o644  # a symlink is never followed
    assert tighten_home(home) == 0
    assert set(HOME_ENTRIES) >= {"spool", "logs", "install", "config.json"}


def test_tighten_home_never_chmods_the_users_own_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    os.chmod(tmp_path, 0o755)
    tighten_home(tmp_path)
    assert _mode(tmp_path) == 0o755


def test_cli_install_reports_what_it_made_private(tmp_path, capsys):
    home = tmp_path / "hm"
    (home / "logs").mkdir(parents=True)
    (home / "logs" / "agentd.log").write_text("old log")
    os.chmod(home / "logs" / "agentd.log", 0o644)
    parser = argparse.ArgumentParser()
    edge.register(parser.add_subparsers())
    args = parser.parse_args(["install", "--settings-file",
                              str(tmp_path / "p" / ".claude" / "settings.json"), "--no-agentd"])
    assert args.run(args, Settings.from_env({"HIVEMIND_HOME": str(home)})) == 0
    assert "made owner-only" in capsys.readouterr().out
    assert _mode(home / "logs" / "agentd.log") == 0o600
    assert all(_mode(p) == (0o700 if p.is_dir() else 0o600)
               for p in home.rglob("*") if not p.is_symlink())


def test_private_makedirs_refuses_a_file_in_the_way(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(NotADirectoryError):
        private.makedirs(tmp_path / "f" / "sub")
    with pytest.raises(FileExistsError):
        private.makedirs(tmp_path / "f")


def test_everything_the_edge_writes_in_its_home_is_private_under_umask_zero(tmp_path):
    """The hook (spool, side files, logs, cache, counters), agentd (lock, status), the sync
    (state, scope, exposures, projects, lock) and install: all 0600/0700 with umask 0,
    the home and its missing parents included."""
    import fcntl
    from datetime import UTC, datetime

    from hivemind_kafka.producers.agentd import launch as agentd
    from hivemind_kafka.producers.agentd.daemon import RecentSessions
    from hivemind_kafka.producers.agentd.forwarder import Forwarder
    from hivemind_kafka.producers.hook import capture
    from hivemind_kafka.producers.sync.skill_files import SyncState
    from hivemind_kafka.producers.sync.skill_sync import (
        ProjectRegistry,
        WorkspaceSkills,
        record_exposures,
        sync_lock,
        write_skills_in_scope,
    )
    from hivemind_kafka.schemas.events import EventKind, TurnEvent
    from hivemind_kafka.schemas.holdout import is_held_out
    from tests.conftest import make_settings

    home = tmp_path / "deep" / "hm"
    held_out = next(f"agent-{i}" for i in range(10_000) if is_held_out("run-tests", f"agent-{i}"))

    def hook(sid: str, event: str) -> dict | None:
        return capture.capture(json.dumps({"session_id": sid, "cwd": str(tmp_path),
                                           "hook_event_name": event}).encode(),
                               home=str(home), environ={})

    old = os.umask(0)
    try:
        assert hook("s0", "Stop") is not None  # the first write creates the home
        write_config(home, workspace_id="ws", agent_kind="coding", bootstrap=None,
                     max_field_bytes=16384, agentd_autostart=False)
        assert hook("s1", "SessionStart") is not None  # cache, counters' prune marker
        capture.capture(b"not json", home=str(home), environ={})  # a log line
        fd = os.open(home / "spool" / ".lock", os.O_RDWR)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            assert hook("s2", "Stop")["seq"] is None  # a busy lock: a side file
        finally:
            os.close(fd)
        lock_fd = agentd.acquire(home)
        assert lock_fd is not None
        agentd.release(lock_fd)
        settings = make_settings("127.0.0.1:1", tmp_path).replace(edge={"home": str(home)})
        Forwarder(settings)._refresh_stats(0.0, force=True)  # agentd.json
        state = SyncState.load(home)
        state.save()
        state.live = {"run-tests": 1}
        with sync_lock(home):
            write_skills_in_scope(home, {}, state, {"_user": tmp_path / "skills"},
                                  agent_id="a")
            record_exposures(home, WorkspaceSkills(), state, target=None, session_id="s1",
                             agent_id=held_out, workspace_id="ws")
        ProjectRegistry(home).add(tmp_path)
        recent = RecentSessions(home)
        recent.observe(TurnEvent(event_id="e", workspace_id="ws", session_id="s1",
                                 agent_id="a", agent_kind="coding", project="p", seq=0,
                                 ts=datetime.now(UTC), kind=EventKind.SESSION_START))
        recent.save()
        install_hooks(tmp_path / "p" / ".claude" / "settings.json", home=home, command=CMD)
    finally:
        os.umask(old)
    made = {p.relative_to(home).as_posix() for p in home.rglob("*")}
    assert {"spool/deferred", "logs/capture.log", "agentd.lock", "agentd.json",
            "sync-state.json", "skills-in-scope.json", "exposures.jsonl", "projects.json",
            "recent-sessions.json", "sync.lock", "install", "spool/seq/.pruned",
            "config.json"} <= made, made
    assert any(m.startswith("cache/redact-") for m in made)
    wrong = {rel: oct(_mode(home / rel)) for rel in sorted(made)
             if _mode(home / rel) != (0o700 if (home / rel).is_dir() else 0o600)}
    assert wrong == {}
    assert _mode(home) == 0o700 and _mode(tmp_path / "deep") == 0o700

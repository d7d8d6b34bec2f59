"""`hivemind install --git-hooks`: commits and reverts become outcome signals for the Claude
Code session that made the edits; the hook is idempotent, keeps the user's own hook,
never fails a commit, and uninstall leaves the repository as it was."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hivemind_kafka.producers.hook import capture
from hivemind_kafka.producers.hook.spool import Spool, spool_dir
from hivemind_kafka.producers.install.git_hooks import (
    BEGIN,
    GitHookRefused,
    decide,
    hook_block,
    hooks_dir,
    install_git_hooks,
    uninstall_git_hooks,
    with_block,
)
from hivemind_kafka.schemas.events import EventKind, event_from_dict

ROOT = Path(__file__).resolve().parents[3]
HOUR = 3600.0


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e"}
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          env=env, timeout=60, check=True)
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path) -> Path:
    r = tmp_path / "shop"
    r.mkdir()
    git(r, "init", "-q", "-b", "main")
    (r / "README.md").write_text("shop\n")
    git(r, "add", ".")
    git(r, "commit", "-q", "-m", "init")
    return r


def hivemind_command() -> str:
    return f"{sys.executable} -P -m hivemind_kafka.cli.main"


# ----------------------------------------------------------------------- pure decisions

def test_commit_is_committed_for_the_session_that_last_edited_within_the_horizon():
    edit = {"session_id": "s1", "workspace_id": "acme", "ts": "2026-12-01T10:00:00.000Z"}
    at = 1_796_119_200.0  # 2026-12-01T10:00:00Z
    signal = decide(sha="a" * 40, message="fix", root="/r", last_edit=edit, attributions=[],
                    now=at + HOUR, horizon_s=14 * 24 * HOUR)
    assert signal is not None and (signal.label, signal.session_id) == ("committed", "s1")
    assert decide(sha="a" * 40, message="fix", root="/r", last_edit=edit, attributions=[],
                  now=at + 15 * 24 * HOUR, horizon_s=14 * 24 * HOUR) is None


def test_revert_is_reverted_for_the_session_its_commit_was_attributed_to():
    attributions = [{"sha": "b" * 40, "session_id": "s-old", "workspace_id": "acme"},
                    {"sha": "c" * 40, "session_id": "s-new", "workspace_id": "acme"}]
    message = f'Revert "add retry"\n\nThis reverts commit {"b" * 40}.\n'
    signal = decide(sha="d" * 40, message=message, root="/r", last_edit=None,
                    attributions=attributions, now=0, horizon_s=1)
    assert signal is not None and (signal.label, signal.session_id) == ("reverted", "s-old")
    unknown = message.replace("b" * 40, "e" * 40)
    assert decide(sha="d" * 40, message=unknown, root="/r", last_edit={"session_id": "x"},
                  attributions=attributions, now=0, horizon_s=1) is None


def test_commit_without_a_known_edit_says_nothing():
    assert decide(sha="a" * 40, message="m", root="/r", last_edit=None, attributions=[],
                  now=0, horizon_s=1) is None


def test_a_non_shell_hook_is_refused_with_the_line_to_add():
    with pytest.raises(GitHookRefused, match="signal --git-commit"):
        with_block("#!/usr/bin/env python3\nprint('hi')\n", hook_block("hm", Path("/h")))


# ------------------------------------------------------------------------ hook files

def test_install_is_idempotent_and_uninstall_removes_the_file_it_created(repo, tmp_path):
    home = tmp_path / "home"
    [first] = install_git_hooks(repo, command=hivemind_command(), home=home)
    assert first.action == "installed" and os.access(first.path, os.X_OK)
    content = first.path.read_bytes()
    [again] = install_git_hooks(repo, command=hivemind_command(), home=home)
    assert again.action == "unchanged" and first.path.read_bytes() == content
    [removed] = uninstall_git_hooks(repo)
    assert removed.action == "removed" and not first.path.exists()


def test_an_existing_shell_hook_is_kept_and_restored_exactly(repo, tmp_path):
    path = hooks_dir(repo) / "post-commit"
    path.parent.mkdir(parents=True, exist_ok=True)
    original = "#!/bin/bash\n# the team's hook\necho committed >> .git/log.txt\nexit 0\n"
    path.write_text(original)
    install_git_hooks(repo, command=hivemind_command(), home=tmp_path / "home")
    text = path.read_text()
    assert text.startswith("#!/bin/bash\n" + BEGIN) and text.endswith(original.split("\n", 1)[1])
    uninstall_git_hooks(repo)
    assert path.read_text() == original


def test_hooks_path_setting_is_honoured(repo, tmp_path):
    shared = tmp_path / "shared-hooks"
    git(repo, "config", "core.hooksPath", str(shared))
    [result] = install_git_hooks(repo, command=hivemind_command(), home=tmp_path / "home")
    assert result.path == shared / "post-commit"


def test_a_broken_hivemind_never_fails_a_commit(repo, tmp_path):
    install_git_hooks(repo, command="/nonexistent/hivemind", home=tmp_path / "home")
    (repo / "a.txt").write_text("a\n")
    git(repo, "add", "a.txt")
    git(repo, "commit", "-q", "-m", "still commits")  # check=True: raises if it failed
    assert git(repo, "log", "-1", "--format=%s") == "still commits"


# --------------------------------------------------------------- end to end, no broker

def spooled_outcomes(home: Path) -> list:
    records = Spool(spool_dir(str(home))).read(max_records=1000).records
    events = [event_from_dict(r.data) for r in records]
    return [e for e in events if e.kind is EventKind.OUTCOME]


def wait_for(condition, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def test_commit_then_revert_signal_the_session_that_made_the_edit(repo, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.json").write_text(json.dumps({
        "workspace_id": "acme", "agent_id": "cc-dev", "agent_kind": "coding",
        "agentd_autostart": False}))
    # Claude Code edits a file of the repository (the hook as it runs on PostToolUse).
    target = repo / "src" / "api.py"
    target.parent.mkdir()
    target.write_text("retry = 3\n")
    payload = {"session_id": "sess-edit-1", "transcript_path": "/tmp/t.jsonl",
               "cwd": str(repo), "hook_event_name": "PostToolUse", "tool_name": "Write",
               "tool_input": {"file_path": str(target), "content": "retry = 3\n"},
               "tool_response": {"filePath": str(target)}, "tool_use_id": "toolu_w1"}
    capture.capture(json.dumps(payload).encode(), home=str(home), environ={})
    env_cmd = f"cd {ROOT} && {hivemind_command()}"  # -P keeps the repo off sys.path
    install_git_hooks(repo, command=f"sh -c '{env_cmd} \"$@\"' hivemind", home=home)

    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "add retry")
    [committed] = wait_for(lambda: spooled_outcomes(home) or None, 60, "the commit signal")
    assert (committed.outcome, committed.session_id, committed.workspace_id) == (
        "committed", "sess-edit-1", "acme")
    assert committed.source == "git-hook"

    git(repo, "revert", "--no-edit", "HEAD")
    outcomes = wait_for(lambda: len(spooled_outcomes(home)) >= 2 and spooled_outcomes(home),
                        60, "the revert signal")
    assert [(o.outcome, o.session_id) for o in outcomes] == [
        ("committed", "sess-edit-1"), ("reverted", "sess-edit-1")]

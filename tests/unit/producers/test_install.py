"""install/uninstall: merge with the user's hooks, idempotent, byte-for-byte reversible,
and a broken settings file is refused untouched."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hivemind_kafka.cli import edge
from hivemind_kafka.producers.hook.events import HOOK_EVENTS, TOOL_EVENTS
from hivemind_kafka.producers.install.claude_code import (
    hook_command,
    install_hooks,
    uninstall_hooks,
)
from hivemind_kafka.runtime.errors import SettingsFileInvalid
from hivemind_kafka.runtime.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
CMD = "/opt/venv/bin/hivemind capture"

# A user's file with its own formatting (tabs, key order, unicode, no final newline).
USER_FILE = (
    '{\n\t"model": "opus",\n\t"env": {"GREETING": "grüß dich"},\n\t"hooks": {\n'
    '\t\t"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", '
    '"command": "~/bin/audit-bash"}]}],\n'
    '\t\t"Notification": [{"hooks": [{"type": "command", "command": "notify-send hi"}]}]\n'
    "\t}\n}"
).encode()


@pytest.fixture
def paths(tmp_path) -> tuple[Path, Path]:
    return tmp_path / "project" / ".claude" / "settings.json", tmp_path / "hivemind-home"


def _ours(settings: dict, event: str) -> list[dict]:
    return [entry for entry in settings["hooks"].get(event, [])
            if any(h.get("command") == CMD for h in entry["hooks"])]


def test_install_adds_one_entry_per_event_after_the_users_hooks(paths):
    target, home = paths
    target.parent.mkdir(parents=True)
    target.write_bytes(USER_FILE)
    result = install_hooks(target, home=home, command=CMD)
    assert result.action == "installed" and result.events == list(HOOK_EVENTS)
    settings = json.loads(target.read_bytes())
    original = json.loads(USER_FILE)
    assert settings["model"] == "opus" and settings["env"] == original["env"]
    assert settings["hooks"]["PreToolUse"][0] == original["hooks"]["PreToolUse"][0]  # first
    assert settings["hooks"]["Notification"] == original["hooks"]["Notification"]
    for event in HOOK_EVENTS:
        (entry,) = _ours(settings, event)
        assert entry["hooks"] == [{"type": "command", "command": CMD, "timeout": 10}]
        assert ("matcher" in entry) == (event in TOOL_EVENTS)
        if event in TOOL_EVENTS:
            assert entry["matcher"] == "*"


def test_second_install_changes_nothing_not_even_the_file_time(paths):
    target, home = paths
    install_hooks(target, home=home, command=CMD)
    before = (target.read_bytes(), target.stat().st_mtime_ns)
    assert install_hooks(target, home=home, command=CMD).action == "unchanged"
    assert (target.read_bytes(), target.stat().st_mtime_ns) == before


def test_uninstall_restores_the_original_bytes(paths):
    target, home = paths
    target.parent.mkdir(parents=True)
    target.write_bytes(USER_FILE)
    install_hooks(target, home=home, command=CMD)
    install_hooks(target, home=home, command=CMD)
    assert uninstall_hooks(target, home=home).action == "restored"
    assert target.read_bytes() == USER_FILE
    assert not list((home / "install").glob("*.json"))


def test_uninstall_removes_a_file_that_did_not_exist_before(paths):
    target, home = paths
    install_hooks(target, home=home, command=CMD)
    assert target.exists()
    assert uninstall_hooks(target, home=home).action == "restored"
    assert not target.exists()


def test_empty_settings_file_counts_as_empty_object_and_comes_back_empty(paths):
    target, home = paths
    target.parent.mkdir(parents=True)
    target.write_bytes(b"\n")
    install_hooks(target, home=home, command=CMD)
    assert len(_ours(json.loads(target.read_bytes()), "Stop")) == 1
    uninstall_hooks(target, home=home)
    assert target.read_bytes() == b"\n"


def test_uninstall_after_others_edited_keeps_their_changes_and_drops_only_ours(paths):
    target, home = paths
    target.parent.mkdir(parents=True)
    target.write_bytes(USER_FILE)
    install_hooks(target, home=home, command=CMD)
    edited = json.loads(target.read_bytes())
    edited["theme"] = "dark"
    edited["hooks"]["Stop"].insert(0, {"hooks": [{"type": "command", "command": "say done"}]})
    edited["hooks"]["PreToolUse"][1]["hooks"].append({"type": "command", "command": "lint"})
    target.write_text(json.dumps(edited, indent=2))
    result = uninstall_hooks(target, home=home)
    assert result.action == "removed"
    after = json.loads(target.read_bytes())
    assert after["theme"] == "dark"
    assert after["hooks"]["Stop"] == [{"hooks": [{"type": "command", "command": "say done"}]}]
    # Their hook that shared an entry with ours stays, under our former matcher.
    assert after["hooks"]["PreToolUse"] == [
        json.loads(USER_FILE)["hooks"]["PreToolUse"][0],
        {"matcher": "*", "hooks": [{"type": "command", "command": "lint"}]}]
    # Event lists we created and left empty are gone; theirs are untouched.
    assert "SessionStart" not in after["hooks"]
    assert after["hooks"]["Notification"] == json.loads(USER_FILE)["hooks"]["Notification"]
    assert "capture" not in target.read_text()


def test_invalid_json_is_refused_and_never_rewritten(paths):
    target, home = paths
    target.parent.mkdir(parents=True)
    broken = b'{"hooks": {"Stop": [}, // comment\n'
    target.write_bytes(broken)
    with pytest.raises(SettingsFileInvalid, match="not valid JSON"):
        install_hooks(target, home=home, command=CMD)
    with pytest.raises(SettingsFileInvalid):
        uninstall_hooks(target, home=home)
    assert target.read_bytes() == broken
    assert not (home / "install").exists()


@pytest.mark.parametrize("raw", [b"[1, 2]", b'"text"', b'{"hooks": []}',
                                 b'{"hooks": {"Stop": {"command": "x"}}}'])
def test_settings_not_shaped_like_claude_settings_are_refused(paths, raw):
    target, home = paths
    target.parent.mkdir(parents=True)
    target.write_bytes(raw)
    with pytest.raises(SettingsFileInvalid):
        install_hooks(target, home=home, command=CMD)
    assert target.read_bytes() == raw


def test_install_from_another_venv_replaces_our_command_in_place(paths):
    target, home = paths
    install_hooks(target, home=home, command="/old/venv/bin/hivemind capture")
    result = install_hooks(target, home=home, command=CMD)
    assert result.action == "updated"
    settings = json.loads(target.read_bytes())
    for event in HOOK_EVENTS:
        commands = [h["command"] for e in settings["hooks"][event] for h in e["hooks"]]
        assert commands == [CMD]
    assert uninstall_hooks(target, home=home).action == "restored"
    assert not target.exists()


def test_reinstall_after_the_user_removed_our_hooks_still_uninstalls_cleanly(paths):
    target, home = paths
    target.parent.mkdir(parents=True)
    target.write_bytes(USER_FILE)
    install_hooks(target, home=home, command=CMD)
    target.write_bytes(USER_FILE.replace(b'"opus"', b'"sonnet"'))  # user reverted + edited
    install_hooks(target, home=home, command=CMD)
    uninstall_hooks(target, home=home)
    assert target.read_bytes() == USER_FILE.replace(b'"opus"', b'"sonnet"')


def test_hook_command_is_this_venvs_hivemind_script():
    cmd = hook_command()
    script = Path(sys.executable).parent / "hivemind"
    if script.exists():
        assert cmd == f"{script} capture"
    else:
        assert cmd.endswith(" -m hivemind_kafka.cli.main capture")
    assert os.path.isabs(cmd.split()[0].strip("'"))


# ------------------------------------------------------------------------------ CLI

def _cli(argv: list[str], settings: Settings) -> int:
    parser = argparse.ArgumentParser()
    edge.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.run(args, settings)


def test_cli_install_records_config_creates_skills_dir_and_prepares_hot_path(tmp_path, capsys):
    home = tmp_path / "hm"
    target = tmp_path / "proj" / ".claude" / "settings.json"
    settings = Settings.from_env({"HIVEMIND_HOME": str(home)})
    assert _cli(["install", "--settings-file", str(target), "--workspace", "ws-7",
                 "--bootstrap", "kafka:9092", "--no-agentd"], settings) == 0
    config = json.loads((home / "config.json").read_text())
    assert config["workspace_id"] == "ws-7" and config["bootstrap"] == "kafka:9092"
    assert config["agent_kind"] == "coding" and config["agentd_autostart"] is False
    assert config["agent_id"].startswith("cc-") and config["max_field_bytes"] == 16384
    assert (target.parent / "skills").is_dir()
    assert list((home / "cache").glob("redact-*.bin"))
    assert "hooks    installed" in capsys.readouterr().out
    agent_id = config["agent_id"]
    assert _cli(["install", "--settings-file", str(target)], settings) == 0
    assert json.loads((home / "config.json").read_text())["agent_id"] == agent_id
    assert _cli(["uninstall", "--settings-file", str(target)], settings) == 0
    assert not target.exists()
    assert "restored" in capsys.readouterr().out


def test_cli_project_scope_writes_the_projects_settings(tmp_path):
    project = tmp_path / "repo"
    project.mkdir()
    settings = Settings.from_env({"HIVEMIND_HOME": str(tmp_path / "hm")})
    assert _cli(["install", "--scope", "project", "--project", str(project)], settings) == 0
    assert (project / ".claude" / "settings.json").exists()
    assert (project / ".claude" / "skills").is_dir()


def test_hivemind_install_user_scope_honours_home(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path / "user"), "HIVEMIND_HOME": str(tmp_path / "hm"),
           "PYTHONPATH": str(ROOT)}
    env.pop("HIVEMIND_WORKSPACE_ID", None)
    done = subprocess.run([sys.executable, "-m", "hivemind_kafka.cli.main", "install"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    user_settings = tmp_path / "user" / ".claude" / "settings.json"
    assert len(_ours_any(json.loads(user_settings.read_text()))) == len(HOOK_EVENTS)
    assert (tmp_path / "user" / ".claude" / "skills").is_dir()
    broken = b"{not json"
    user_settings.write_bytes(broken)
    done = subprocess.run([sys.executable, "-m", "hivemind_kafka.cli.main", "uninstall"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "not valid JSON" in done.stderr
    assert user_settings.read_bytes() == broken


def _ours_any(settings: dict) -> list[dict]:
    return [h for entries in settings["hooks"].values() for e in entries for h in e["hooks"]
            if h["command"].endswith(" capture")]


def test_every_hook_module_is_compiled_from_a_file_that_exists():
    """prepare_hot_path compiles HOOK_MODULES by path: a moved module must move here too,
    and every module the capture hook imports is in the list."""
    import subprocess
    import sys

    from hivemind_kafka.producers.install.claude_code import HOOK_MODULES, package_root

    root = package_root()
    assert all((root / rel).is_file() for rel in HOOK_MODULES)
    probe = ("import sys, hivemind_kafka.cli.main, hivemind_kafka.producers.hook.capture, "
             "hivemind_kafka.producers.hook.skill_pull, hivemind_kafka.producers.secrets.redact, "
             "hivemind_kafka.producers.agentd.launch\n"
             "print('\\n'.join(m.__file__ for n, m in sys.modules.items() "
             "if n.startswith('hivemind_kafka') and getattr(m, '__file__', None)))")
    out = subprocess.run([sys.executable, "-P", "-c", probe], capture_output=True, text=True,
                         check=True).stdout.split()
    imported = {str(__import__("pathlib").Path(f).relative_to(root)) for f in out}
    assert imported <= set(HOOK_MODULES), imported - set(HOOK_MODULES)

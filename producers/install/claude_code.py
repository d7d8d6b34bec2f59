"""Register (and remove) the capture hook in Claude Code's settings.json.

Guarantees
- **Merge, never clobber.** Our entries are appended to each event's list; the user's
  hooks, their order and every other setting are kept. A settings file that is not valid
  JSON (or not shaped like Claude Code settings) raises
  :class:`runtime.errors.SettingsFileInvalid` and is never rewritten. An empty file
  counts as ``{}``.
- **Idempotent.** Installing twice changes nothing the second time (the file is not even
  rewritten, so it stays byte-identical). Installing from another venv replaces our old
  command in place instead of adding a second hook.
- **Reversible byte for byte.** Before writing, the bytes we replace are kept in
  ``<hivemind home>/install/<id>.json`` with a hash of what we wrote. Uninstall restores
  those bytes exactly (deletes the file if it did not exist) when nobody changed the
  file since; otherwise it removes only our entries (and the event lists or ``hooks``
  object we created, once empty) and leaves everything else.
- Writes are atomic (temp file + rename) and keep the file's permissions; a file
  created by us is 0600.
- **A symlinked settings file stays a symlink.** Dotfile managers link
  ``~/.claude/settings.json`` into a repository: we write the link's target (resolved,
  atomically in the target's directory), so install and uninstall change the target's
  bytes and never the link. A link whose target directory is missing, or a link loop,
  raises :class:`runtime.errors.SettingsFileInvalid` and nothing is written.
- **Private.** The saved copy of the original settings (``<home>/install/*.json``, which
  can hold API keys in its ``env`` block) and ``config.json`` are 0600 in 0700
  directories, whatever the umask; :func:`tighten_home` brings an existing home there.

Hook entry shape (Claude Code 2.x)::

    {"hooks": {"PreToolUse": [{"matcher": "*", "hooks": [
        {"type": "command", "command": "/venv/bin/hivemind capture", "timeout": 10}]}]}}

Events without tools (SessionStart, Stop...) take entries without ``matcher``.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import shlex
import sys
from pathlib import Path

from hivemind_kafka.producers import private
from hivemind_kafka.producers.hook.events import HOOK_EVENTS, TOOL_EVENTS
from hivemind_kafka.runtime.errors import SettingsFileInvalid

HOOK_TIMEOUT_S = 10
STATE_DIR = "install"
# Hot-path modules compiled at install so the hook never compiles source, even when the
# agent's environment sets PYTHONDONTWRITEBYTECODE.
HOOK_MODULES = ("__init__.py", "cli/__init__.py", "cli/main.py", "producers/__init__.py",
                "producers/private.py", "producers/hook/__init__.py", "producers/hook/capture.py",
                "producers/hook/events.py", "producers/hook/spool.py", "producers/hook/jsonlite.py",
                "producers/hook/skill_pull.py", "producers/hook/skill_disk.py",
                "producers/secrets/__init__.py", "producers/secrets/redact.py",
                "producers/secrets/rules.py", "producers/secrets/values.py",
                "producers/agentd/__init__.py", "producers/agentd/launch.py")
# What Hivemind keeps in its home: tightened by ``hivemind install`` (never anything else,
# so a home pointed at a project or at ~ does not get its other files chmod-ed).
HOME_ENTRIES = ("spool", "logs", "install", "cache", "codifier", "faust", "lake",
                "config.json", "broker.json", "agentd.lock", "agentd.json", "sync.lock",
                "sync-state.json", "projects.json", "skills-in-scope.json", "exposures.jsonl",
                "recent-sessions.json", "retirements.jsonl")


class InstallResult:
    """What :func:`install_hooks` / :func:`uninstall_hooks` did to one settings file."""

    __slots__ = ("action", "events", "path")

    def __init__(self, path: Path, action: str, events: list[str]) -> None:
        self.path = path
        self.action = action  # installed | updated | unchanged | restored | removed | absent
        self.events = events

    def __repr__(self) -> str:
        return f"InstallResult({str(self.path)!r}, {self.action!r}, {self.events})"


# ------------------------------------------------------------------ pure settings logic

def hook_command(python: str | None = None) -> str:
    """The shell command Claude Code runs: this venv's ``hivemind`` script + ``capture``
    (absolute, quoted), or ``<python> -P -m hivemind_kafka.cli.main capture`` without the script.

    ``-P`` keeps the hook's working directory (the user's project) off ``sys.path``: a
    project with its own ``cli/`` or ``producers/`` package must not shadow ours."""
    python = python or sys.executable
    script = Path(python).parent / "hivemind"  # not resolved: the venv's bin, not pyenv's
    if script.exists():
        return f"{shlex.quote(str(script))} capture"
    return f"{shlex.quote(python)} -P -m hivemind_kafka.cli.main capture"


def is_our_command(command: object) -> bool:
    """A capture hook of any Hivemind install (any venv path)."""
    if not isinstance(command, str) or not command.endswith(" capture"):
        return False
    head = command[: -len(" capture")]
    # "-m cli.main": the module fallback of installs from before the hivemind_kafka namespace
    return head.endswith(("hivemind", "hivemind'", "-m hivemind_kafka.cli.main", "-m cli.main"))


def hook_entry(event: str, command: str) -> dict:
    hook = {"type": "command", "command": command, "timeout": HOOK_TIMEOUT_S}
    if event in TOOL_EVENTS:
        return {"matcher": "*", "hooks": [hook]}
    return {"hooks": [hook]}


def merge_hooks(settings: dict, command: str) -> tuple[dict, list[str]]:
    """``(new settings, events changed)``: our entry added to each hook event (or an old
    command of ours replaced in place). ``settings`` is not modified."""
    new = copy.deepcopy(settings)
    hooks = new.setdefault("hooks", {})
    changed = []
    for event in HOOK_EVENTS:
        entries = hooks.setdefault(event, [])
        ours = [h for entry in entries for h in entry.get("hooks", [])
                if isinstance(h, dict) and is_our_command(h.get("command"))]
        if any(h.get("command") == command for h in ours):
            continue
        if ours:
            for h in ours:
                h["command"] = command
        else:
            entries.append(hook_entry(event, command))
        changed.append(event)
    return new, changed


def remove_hooks(settings: dict, *, created: tuple[str, ...] = ()) -> tuple[dict, list[str]]:
    """``(new settings, events changed)`` without any Hivemind capture hook. Entries left
    with no hook are dropped; so are event lists (and ``hooks``) named in ``created``
    once empty. Nothing else moves."""
    new = copy.deepcopy(settings)
    hooks = new.get("hooks")
    if not isinstance(hooks, dict):
        return new, []
    changed = []
    for event in list(hooks):
        entries = hooks[event]
        if not isinstance(entries, list):
            continue
        kept_entries = []
        touched = False
        for entry in entries:
            inner = entry.get("hooks") if isinstance(entry, dict) else None
            if not isinstance(inner, list):
                kept_entries.append(entry)
                continue
            kept = [h for h in inner if not (isinstance(h, dict) and is_our_command(h.get("command")))]
            if len(kept) == len(inner):
                kept_entries.append(entry)
                continue
            touched = True
            if kept:
                kept_entries.append({**entry, "hooks": kept})
        if touched:
            changed.append(event)
            hooks[event] = kept_entries
        if not hooks[event] and event in created:
            del hooks[event]
    if not hooks and "hooks" in created:
        del new["hooks"]
    return new, changed


def parse_settings(raw: bytes, path: Path) -> dict:
    """The settings object, or SettingsFileInvalid naming the problem and the fix."""
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SettingsFileInvalid(
            f"{path} is not valid JSON ({exc}); Hivemind will not rewrite it. Fix the file "
            "(or move it aside) and run the command again.") from None
    if not isinstance(data, dict):
        raise SettingsFileInvalid(f"{path} holds a JSON {type(data).__name__}, not an object; "
                                  "Claude Code settings must be an object. Fix it and retry.")
    hooks = data.get("hooks")
    if hooks is not None and (not isinstance(hooks, dict) or not all(
            isinstance(v, list) and all(isinstance(e, dict) for e in v) for v in hooks.values())):
        raise SettingsFileInvalid(
            f"{path}: \"hooks\" must map event names to lists of objects; fix it and retry.")
    return data


def render_settings(settings: dict) -> bytes:
    return (json.dumps(settings, indent=2, ensure_ascii=False) + "\n").encode()


# ----------------------------------------------------------------------------- files

def settings_path(scope: str, *, project: Path | None = None) -> Path:
    """``~/.claude/settings.json`` (user; honours HOME) or
    ``<project>/.claude/settings.json`` (project, default: the current directory)."""
    if scope == "user":
        return Path.home() / ".claude" / "settings.json"
    if scope == "project":
        return (project or Path.cwd()).resolve() / ".claude" / "settings.json"
    raise ValueError(f"scope {scope!r}: expected 'user' or 'project'")


def skills_dir_for(settings_file: Path) -> Path:
    """The skills directory beside a settings file (``.claude/skills``)."""
    return settings_file.parent / "skills"


def install_hooks(settings_file: Path, *, home: Path, command: str | None = None) -> InstallResult:
    """Merge our hooks into ``settings_file`` and remember how to undo it."""
    command = command or hook_command()
    write_target(settings_file)  # an unusable symlink is refused before anything is written
    raw = settings_file.read_bytes() if settings_file.exists() else None
    current = parse_settings(raw or b"", settings_file)
    new, events = merge_hooks(current, command)
    state_file = _state_file(home, settings_file)
    if not events:
        return InstallResult(settings_file, "unchanged", [])
    created = tuple(e for e in events if e not in current.get("hooks", {}))
    if "hooks" not in current:
        created += ("hooks",)
    data = render_settings(new)
    previous = _read_state(state_file)
    if previous and raw is not None and _sha(raw) == previous.get("written_sha256"):
        # Our own earlier write: keep the original bytes as the restore point.
        base_b64, existed = previous.get("base"), previous.get("existed", True)
        created = tuple(sorted(set(created) | set(previous.get("created", []))))
    else:
        base_b64 = base64.b64encode(raw).decode() if raw is not None else None
        existed = raw is not None
    _write_state(state_file, {
        "settings_path": str(settings_file), "existed": existed, "base": base_b64,
        "written_sha256": _sha(data), "command": command, "created": list(created),
    })
    _atomic_write(settings_file, data)
    return InstallResult(settings_file, "updated" if previous else "installed", events)


def uninstall_hooks(settings_file: Path, *, home: Path) -> InstallResult:
    """Undo :func:`install_hooks`: restore the original bytes if the file is still exactly
    what we wrote, else remove only our entries."""
    state_file = _state_file(home, settings_file)
    state = _read_state(state_file) or {}
    if not settings_file.exists():
        _remove(state_file)
        return InstallResult(settings_file, "absent", [])
    raw = settings_file.read_bytes()
    current = parse_settings(raw, settings_file)  # refuses a broken file before any change
    restore = _restore_point(state, raw, settings_file)
    if restore is not None:
        existed, base = restore
        if existed:
            _atomic_write(settings_file, base)
        else:
            write_target(settings_file).unlink()  # a symlink stays, dangling as before
        _remove(state_file)
        return InstallResult(settings_file, "restored", list(HOOK_EVENTS))
    new, events = remove_hooks(current, created=tuple(state.get("created", ())))
    if events:
        _atomic_write(settings_file, render_settings(new))
    _remove(state_file)
    return InstallResult(settings_file, "removed" if events else "unchanged", events)


def _restore_point(state: dict, raw: bytes, settings_file: Path) -> tuple[bool, bytes] | None:
    """``(existed, original bytes)`` when restoring them undoes exactly our change: the
    file is byte-for-byte what we wrote and the original held no hook of ours."""
    if not state or _sha(raw) != state.get("written_sha256"):
        return None
    if not state.get("existed") or state.get("base") is None:
        return False, b""
    base = base64.b64decode(state["base"])
    try:
        if remove_hooks(parse_settings(base, settings_file))[1]:
            return None  # the original carried an older install of ours
    except SettingsFileInvalid:
        return None
    return True, base


def write_config(home: Path, *, workspace_id: str, agent_kind: str, bootstrap: str | None,
                 max_field_bytes: int, agentd_autostart: bool = True) -> Path:
    """``<home>/config.json`` for capture and agentd; keeps an existing ``agent_id``."""
    from hivemind_kafka.producers.hook.events import machine_agent_id

    path = home / "config.json"
    config: dict = {}
    if path.exists():
        try:
            loaded = json.loads(path.read_bytes())
            config = loaded if isinstance(loaded, dict) else {}
        except ValueError:
            config = {}
    config.update({
        "version": 1,
        "workspace_id": workspace_id,
        "agent_kind": agent_kind,
        "agent_id": config.get("agent_id") or machine_agent_id(
            os.uname().nodename, os.environ.get("USER") or str(os.getuid())),
        "bootstrap": bootstrap,
        "max_field_bytes": max_field_bytes,
        "agentd_autostart": agentd_autostart,
        "python": sys.executable,
    })
    private.makedirs(home)
    _atomic_write(path, (json.dumps(config, indent=2, sort_keys=True) + "\n").encode(),
                  mode=private.FILE_MODE)
    return path


def tighten_home(home: Path) -> int:
    """Bring what Hivemind keeps in ``home`` (:data:`HOME_ENTRIES`) to 0700/0600, the
    home directory too unless it is the user's own home; returns how many modes changed.
    Never follows a symlink, never touches another user's files."""
    changed = 0
    if home.is_dir() and not home.is_symlink() and home.resolve() != Path.home().resolve():
        mode = home.stat().st_mode & 0o7777
        if mode & ~private.DIR_MODE and home.stat().st_uid == os.geteuid():
            os.chmod(home, mode & private.DIR_MODE)
            changed += 1
    for name in HOME_ENTRIES:
        changed += private.tighten(home / name)
    return changed


def package_root() -> Path:
    """The ``hivemind_kafka`` package directory (HOOK_MODULES are relative to it); in a
    checkout its folders are links to the repository's top-level folders."""
    return Path(__file__).parents[2]


def prepare_hot_path(home: Path) -> list[str]:
    """Pre-compile the redaction patterns and the hook modules' byte code (best effort);
    returns what could not be prepared."""
    import py_compile

    from hivemind_kafka.producers.hook.capture import write_redactor_cache

    problems = []
    if write_redactor_cache(str(home)) is None:
        problems.append("redaction cache")
    for rel in HOOK_MODULES:
        if py_compile.compile(str(package_root() / rel), doraise=False) is None:
            problems.append(rel)
    return problems


def _state_file(home: Path, settings_file: Path) -> Path:
    key = hashlib.sha256(str(settings_file.absolute()).encode()).hexdigest()[:16]
    return home / STATE_DIR / f"{key}.json"


def _read_state(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_state(path: Path, state: dict) -> None:
    private.makedirs(path.parent)
    _atomic_write(path, (json.dumps(state, indent=2) + "\n").encode(), mode=private.FILE_MODE)


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_target(path: Path) -> Path:
    """The file a write to ``path`` must replace: ``path`` itself, or the final target
    of a symlink (so the link survives). Raises :class:`SettingsFileInvalid` for a link
    loop or a link into a directory that does not exist."""
    if not path.is_symlink():
        return path
    try:
        target = Path(os.path.realpath(path, strict=False))
        if target.exists():
            target = Path(os.path.realpath(path, strict=True))
    except OSError as exc:
        raise SettingsFileInvalid(
            f"{path} is a symlink that cannot be resolved ({exc}); fix or remove the link "
            "and run the command again.") from None
    if target.is_symlink() or not target.parent.is_dir():
        raise SettingsFileInvalid(
            f"{path} is a symlink to {target}, whose directory does not exist; create "
            f"{target.parent} (or remove the link) and run the command again.")
    return target


def _atomic_write(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Replace ``path`` (through a symlink: its target) via a temp file in the same
    directory. The mode is ``mode`` if given, else the existing file's, else 0600."""
    target = write_target(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if mode is None:
        mode = target.stat().st_mode & 0o7777 if target.exists() else private.FILE_MODE
    private.write_atomic(target, data, mode=mode)

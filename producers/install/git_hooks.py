"""Git hooks that turn commits and reverts into outcome signals for the Claude Code session
that made the edits (``hivemind install --git-hooks``).

How the session is known: on every PostToolUse of an edit tool (Edit, Write, MultiEdit,
NotebookEdit) the capture hook records which session last edited files of that file's git
work tree, in ``<home>/git/last-edit/<root>.json`` (:func:`producers.hook.capture.record_last_edit`).
The ``post-commit`` hook runs ``hivemind signal --git-commit`` in the background, which:

* for a commit whose message says ``This reverts commit <sha>`` (``git revert``): signals
  ``reverted`` for the session the reverted commit was attributed to (when it was
  attributed: ``<home>/git/commits.jsonl``);
* for any other commit: signals ``committed`` for the session that last edited the work
  tree, if that edit is within the outcome horizon, and records the attribution
  ``sha -> session`` (so a later revert finds it);
* otherwise (no Claude Code edit known) does nothing.

The outcome event is appended to the spool, like a hook event, and agentd sends it (it is
started if it is not running, unless ``agentd_autostart`` is false): a commit never waits
on Kafka, and a signal made offline is sent later.

Guarantees of the hook itself: it never breaks or slows a commit (the command is
backgrounded, its output discarded, and the block exits 0 whatever happens). Installing
is idempotent (one marked block, rewritten in place) and keeps a hook already there: our
block goes right after its shebang line, so the user's script runs unchanged after it;
a hook that is not a shell script is refused with the line to add by hand. Uninstalling
removes our block only, and the file when nothing but our block and a shebang is left.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from hivemind_kafka.producers import private
from hivemind_kafka.producers.hook import jsonlite
from hivemind_kafka.runtime.errors import HivemindError

HOOKS = ("post-commit",)
BEGIN = "# >>> hivemind git hook >>>"
END = "# <<< hivemind git hook <<<"
_SHELLS = ("sh", "bash", "dash", "zsh", "ksh")
_REVERTS = re.compile(r"This reverts commit ([0-9a-f]{7,40})")
COMMITS_FILE = ("git", "commits.jsonl")
MAX_COMMITS_BYTES = 1 << 20  # the attribution log is cut to its newer half past this


class GitHookRefused(HivemindError):
    """A hook exists that Hivemind cannot extend safely (not a shell script)."""


@dataclass(frozen=True)
class HookResult:
    path: Path
    action: str  # installed | updated | unchanged | removed | absent


# ------------------------------------------------------------------------ the hook file

def hook_block(command: str, home: Path) -> str:
    """The marked block: run ``command signal --git-commit`` detached, never fail."""
    run = (f"HIVEMIND_HOME={shlex.quote(str(home))} {command} signal --git-commit "
           f'--repo "$(git rev-parse --show-toplevel 2>/dev/null || pwd)"')
    return (f"{BEGIN} (managed by `hivemind install --git-hooks`; "
            f"`hivemind uninstall --git-hooks` removes it)\n"
            f"( {run} >/dev/null 2>&1 & ) >/dev/null 2>&1 || true\n"
            f"{END}\n")


def with_block(existing: str | None, block: str) -> str:
    """``existing`` hook text with our block added or replaced (pure). Raises
    :class:`GitHookRefused` for a script whose shebang is not a POSIX-like shell."""
    if existing is None or not existing.strip():
        return f"#!/bin/sh\n{block}exit 0\n"
    text = without_block(existing)
    first, _, rest = text.partition("\n")
    if not first.startswith("#!"):
        return f"#!/bin/sh\n{block}{text}"
    interpreter = first[2:].strip().split()
    name = os.path.basename(interpreter[-1] if interpreter and
                            os.path.basename(interpreter[0]) == "env" else
                            (interpreter[0] if interpreter else ""))
    if name not in _SHELLS:
        raise GitHookRefused(
            f"the existing hook runs {name or 'an unknown interpreter'}, not a shell: "
            f"Hivemind will not edit it. Add this line to it yourself:\n{block}")
    return f"{first}\n{block}{rest}"


def without_block(text: str) -> str:
    """``text`` without our block (pure; unchanged when there is none)."""
    start = text.find(BEGIN)
    if start < 0:
        return text
    end = text.find(END, start)
    if end < 0:
        return text
    end = text.find("\n", end)
    return text[:start] + (text[end + 1:] if end >= 0 else "")


def is_only_ours(text: str) -> bool:
    """Nothing but a shebang, our block and ``exit 0`` (what we create)."""
    rest = [line.strip() for line in without_block(text).splitlines()]
    return all(not line or line.startswith("#!") or line == "exit 0" for line in rest)


# ----------------------------------------------------------------------------- files

def git(repo: Path, *args: str) -> str:
    """``git -C repo args`` output (stripped); raises HivemindError when git fails."""
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True,
                              text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise HivemindError(f"cannot run git: {exc}") from None
    if done.returncode != 0:
        raise HivemindError(f"{repo} is not inside a git work tree ({done.stderr.strip()}); "
                            "pass --repo <path of a git checkout>")
    return done.stdout.strip()


def hooks_dir(repo: Path) -> Path:
    """The repository's hooks directory (honours ``core.hooksPath``)."""
    path = Path(git(repo, "rev-parse", "--git-path", "hooks"))
    return path if path.is_absolute() else Path(git(repo, "rev-parse", "--show-toplevel")) / path


def install_git_hooks(repo: Path, *, command: str, home: Path) -> list[HookResult]:
    """Add (or refresh) our block in each hook of :data:`HOOKS`; idempotent."""
    directory = hooks_dir(repo)
    directory.mkdir(parents=True, exist_ok=True)
    block = hook_block(command, home)
    results = []
    for name in HOOKS:
        path = directory / name
        existing = path.read_text() if path.exists() else None
        new = with_block(existing, block)
        if existing == new:
            results.append(HookResult(path, "unchanged"))
            continue
        path.write_text(new)
        path.chmod(path.stat().st_mode | 0o111)
        results.append(HookResult(path, "updated" if existing and BEGIN in existing
                                  else "installed"))
    return results


def uninstall_git_hooks(repo: Path) -> list[HookResult]:
    """Remove our block from each hook; delete a hook left with nothing else."""
    directory = hooks_dir(repo)
    results = []
    for name in HOOKS:
        path = directory / name
        if not path.exists() or BEGIN not in path.read_text():
            results.append(HookResult(path, "absent"))
            continue
        text = path.read_text()
        if is_only_ours(text):
            path.unlink()
        else:
            path.write_text(without_block(text))
        results.append(HookResult(path, "removed"))
    return results


# ------------------------------------------------------------------- the commit signal

@dataclass(frozen=True)
class CommitSignal:
    label: str  # committed | reverted
    session_id: str
    workspace_id: str
    agent_id: str
    sha: str
    project_root: str


def reverted_sha(message: str) -> str | None:
    match = _REVERTS.search(message)
    return match.group(1) if match else None


def decide(*, sha: str, message: str, root: str, last_edit: dict | None,
           attributions: list[dict], now: float, horizon_s: float) -> CommitSignal | None:
    """What one commit says, and about which session (pure; see the module docstring)."""
    reverted = reverted_sha(message)
    if reverted is not None:
        for entry in reversed(attributions):
            if str(entry.get("sha", "")).startswith(reverted) and entry.get("session_id"):
                return CommitSignal("reverted", entry["session_id"],
                                    entry.get("workspace_id", ""), entry.get("agent_id", ""),
                                    sha, root)
        return None
    if not last_edit or not isinstance(last_edit.get("session_id"), str):
        return None
    edited = _epoch(last_edit.get("ts"))
    if edited is None or now - edited > horizon_s:
        return None
    return CommitSignal("committed", last_edit["session_id"],
                        str(last_edit.get("workspace_id") or ""),
                        str(last_edit.get("agent_id") or ""), sha, root)


def read_attributions(home: Path) -> list[dict]:
    path = home.joinpath(*COMMITS_FILE)
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            out.append(entry)
    return out


def record_attribution(home: Path, signal: CommitSignal) -> None:
    """Append ``sha -> session`` (bounded: past MAX_COMMITS_BYTES the older half goes)."""
    path = home.joinpath(*COMMITS_FILE)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    line = json.dumps({"sha": signal.sha, "session_id": signal.session_id,
                       "workspace_id": signal.workspace_id, "agent_id": signal.agent_id,
                       "root": signal.project_root}) + "\n"
    with open(path, "a", encoding="utf-8") as f:
        f.write(line)
    if path.stat().st_size > MAX_COMMITS_BYTES:
        lines = path.read_text().splitlines(keepends=True)
        private.write_atomic(path, "".join(lines[len(lines) // 2:]).encode(), fsync=False)


def signal_commit(repo: Path, *, home: Path, horizon_s: float, config: dict,
                  now: float | None = None) -> CommitSignal | None:
    """Decide the HEAD commit's signal and spool it as an outcome event; None when the
    commit says nothing about a known session."""
    from hivemind_kafka.producers.hook import capture
    from hivemind_kafka.producers.hook.events import last_edit_file, project_name
    from hivemind_kafka.producers.hook.spool import Spool, spool_dir

    now = time.time() if now is None else now
    root = git(repo, "rev-parse", "--show-toplevel")
    root = os.path.realpath(root)
    sha, _, message = git(repo, "log", "-1", "--format=%H%x00%B").partition("\x00")
    last_edit = jsonlite.read_object(Path(last_edit_file(str(home), root)))
    signal = decide(sha=sha, message=message, root=root, last_edit=last_edit,
                    attributions=read_attributions(home), now=now, horizon_s=horizon_s)
    if signal is None:
        return None
    if signal.label == "committed":
        record_attribution(home, signal)
    record = {
        "event_id": os.urandom(16).hex(), "schema_version": 2,
        "workspace_id": signal.workspace_id or config["workspace_id"],
        "session_id": signal.session_id, "agent_id": signal.agent_id or config["agent_id"],
        "agent_kind": config["agent_kind"], "project": project_name(root)[:512],
        "seq": int(now * 1000), "ts": capture.rfc3339(now), "kind": "outcome",
        "outcome": signal.label, "text": f"git commit {sha[:12]}", "source": "git-hook",
    }
    Spool(spool_dir(str(home))).append(record)
    if config.get("agentd_autostart", True) is not False:
        capture.ensure_agentd(str(home))
    return signal




def _epoch(ts: object) -> float | None:
    """RFC 3339 ``...Z`` (capture's format) as epoch seconds."""
    if not isinstance(ts, str):
        return None
    from datetime import datetime

    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None

"""The SessionStart pull: every session start brings its project up to the workspace's
live skills, from the local cache agentd keeps fresh, and records exactly which skill
versions the session itself started with.

The hook cannot read Kafka (no client on the hook path, no network), so every sync pass
writes the workspace's *vetted set* (``producers.sync.skill_files.vet_skills``: names and
guards checked, this agent's holdout applied, ``SKILL.md`` rendered) to
``<home>/skills-cache.json``: agentd's full pass every ``HIVEMIND_EDGE_SYNC_INTERVAL_S``
(30 s) and at each session start it forwards, and ``hivemind sync``. The sync and the pull
materialize that one set with the same code (:func:`producers.hook.skill_disk.materialize`:
atomic writes, human edits never overwritten, no symlink followed).

When the pull helps: Claude Code (measured on 2.1.197) loads the skills directory *before*
it runs SessionStart hooks, and lists those skills (``- name: description``) to the model;
it waits for the hooks before its first request, and its skill watcher, set up after the
hooks started, only picks up changes made later (after ~1.5 s of stability). So what the
pull writes is there for the project's next session (and for a running session only
if the watcher sees it, e.g. after ``/clear``): a project no sync has seen yet, a skill
published since agentd's last pass, a skill whose holdout changed. What the session
*has* is what was on disk before the pull: :func:`pull` records that as its scope.

Cache layout (written atomically, 0600)::

    {"format": 1, "workspace_id": "acme", "agent_id": "cc-…", "written_at": "…Z",
     "complete": true, "holdout_until": null,
     "skills": {"run-tests": {"version": 3, "cohort": "present", "content": "---…",
                              "sha256": "…"},
                "use-rg": {"version": 1, "cohort": "held_out"},
                "bad-one": {"version": 2, "skip": "rejected"},
                "retired": null}}

``complete``: the read reached the end of the skills topic, so a skill Hivemind wrote
that the set does not hold was retired and the pull removes it too (a partial read only
adds and applies explicit tombstones). ``holdout_until``: epoch seconds after which the
held-out decisions no longer hold (a time-varying holdout), ``null`` when they never
expire.

Guarantees of :func:`pull` (the hook calls it on every SessionStart):

* **Bounded.** It takes the sync lock (``<home>/sync.lock``) without blocking, retrying
  for at most ``PULL_LOCK_WAIT_S`` (100 ms); a sync holding it longer means no write this
  time (the scope is still recorded). It writes at most ``PULL_MAX_WRITES`` files (about
  1 ms each); the rest (a project's first session in a workspace with many skills) are
  left to agentd's pass for this same session start, moments later, or to the next pull.
  Nothing is lost by waiting: what the pull writes serves the next session anyway. Files
  and the sync state are renamed into place without fsync, which under load costs a
  journal commit of everything just written
  (agentd's sync for the same session start saves the state durably moments later; see
  :mod:`hivemind_kafka.producers.hook.skill_disk` for what a power cut can leave).
* **Exact scope.** It returns the session's ``[{"name", "version", "cohort"}]`` as the
  session started, read before it writes anything (:func:`producers.hook.skill_disk.
  scope_on_disk`): the version of each Hivemind file on disk (``present``) and each skill
  held out and not on disk; a skill the user edited or deleted is in neither.
* **Trusts only its own cache.** A missing or malformed cache, one written for another
  workspace or agent, an expired holdout, an unreadable sync state: no pull, and the
  reason is returned for the hook's log.

Imports only the standard library's C-level modules and stdlib-only modules of ours: it
runs inside the capture hook.
"""

from __future__ import annotations

import fcntl
import os
import time

from hivemind_kafka.producers import private
from hivemind_kafka.producers.hook import jsonlite
from hivemind_kafka.producers.hook.skill_disk import (
    HELD_OUT,
    PRESENT,
    StateFile,
    materialize,
    scope_on_disk,
)

CACHE_FILE = "skills-cache.json"
CACHE_FORMAT = 1
LOCK_FILE = "sync.lock"  # producers.sync.skill_sync.sync_lock
PULL_LOCK_WAIT_S = 0.1
# Files one pull writes at most (about 1.1 ms each): three keep a project's first session
# start within the hook's budget, 2x a bare interpreter's p50 (``python -m bench.capture``:
# a start with every skill already on disk is about 1.5x).
PULL_MAX_WRITES = 3


class Pulled:
    """What one pull did: ``scope`` (the session's skills, sorted by name) or ``None``
    with ``reason`` when there was no pull; names per action otherwise."""

    __slots__ = ("conflicts", "created", "deferred", "reason", "refused", "removed", "scope",
                 "updated")

    def __init__(self, scope: list | None, reason: str = "", applied=None) -> None:
        self.scope = scope
        self.reason = reason
        self.created = list(applied.created) if applied else []
        self.updated = list(applied.updated) if applied else []
        self.removed = list(applied.removed) if applied else []
        self.deferred = list(applied.deferred) if applied else []
        self.conflicts = [c[1] for c in applied.new_conflicts] if applied else []
        self.refused = [f"{r[1]}:{r[2]}" for r in applied.refused] if applied else []


def cache_path(home: str) -> str:
    return os.path.join(home, CACHE_FILE)


def write_cache(home: str, skills: dict, *, workspace_id: str, agent_id: str,
                complete: bool, holdout_until: float | None = None,
                written_at: str | None = None) -> str:
    """Write the vetted set atomically (call under the sync lock). A partial read
    (``complete`` false) is merged into the previous cache of the same workspace and
    agent: names it did not reach keep their last entry."""
    if not complete:
        previous = read_cache(home)
        if isinstance(previous, dict) and previous.get("workspace_id") == workspace_id \
                and previous.get("agent_id") == agent_id \
                and isinstance(previous.get("skills"), dict):
            skills = {**previous["skills"], **skills}
    data = {"format": CACHE_FORMAT, "workspace_id": workspace_id, "agent_id": agent_id,
            "written_at": written_at or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "complete": bool(complete), "holdout_until": holdout_until, "skills": skills}
    path = cache_path(home)
    private.write_atomic(path, jsonlite.dumps(data).encode())
    return path


def read_cache(home: str) -> object:
    """The cache parsed, or ``None`` when missing or not JSON."""
    try:
        with open(cache_path(home), "rb") as f:
            return jsonlite.loads(f.read())
    except (OSError, ValueError, RecursionError):
        return None


def usable_skills(cache: object, *, workspace_id: str, agent_id: str, now: float
                  ) -> tuple[dict | None, str]:
    """``(skills, "")`` when the cache may be materialized for this workspace and agent
    at ``now``, else ``(None, reason)``. Entries that are not well formed are dropped."""
    if not isinstance(cache, dict):
        return None, "no-cache"
    if cache.get("format") != CACHE_FORMAT:
        return None, "cache-format"
    if cache.get("workspace_id") != workspace_id:
        return None, "cache-of-another-workspace"
    if cache.get("agent_id") != agent_id:
        return None, "cache-of-another-agent"
    until = cache.get("holdout_until")
    if until is not None and (not isinstance(until, (int, float)) or now >= until):
        return None, "holdout-expired"
    raw = cache.get("skills")
    if not isinstance(raw, dict):
        return None, "cache-format"
    skills: dict = {}
    for name, entry in raw.items():
        skipped = isinstance(entry, dict) and bool(entry.get("skip"))
        if entry is None or skipped or _is_entry(entry):
            skills[name] = entry
    return skills, ""


def _is_entry(entry: object) -> bool:
    if not isinstance(entry, dict):
        return False
    version = entry.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        return False
    if entry.get("cohort") == HELD_OUT:
        return True
    return entry.get("cohort") == PRESENT and isinstance(entry.get("content"), str) \
        and isinstance(entry.get("sha256"), str)


def pull(home: str, project_root: str, *, workspace_id: str, agent_id: str,
         now: float | None = None, wait_s: float = PULL_LOCK_WAIT_S,
         max_writes: int = PULL_MAX_WRITES) -> Pulled:
    """Record what ``<project_root>/.claude/skills`` holds as the session starts, then
    materialize the cache into it (see the module docstring). Raises only ``OSError``
    from the disk (the hook logs it); everything else is a :class:`Pulled` with a
    reason."""
    now = time.time() if now is None else now
    if not project_root or project_root == os.sep:
        return Pulled(None, "no-project")
    skills_dir = os.path.join(project_root, ".claude", "skills")
    skills, reason = usable_skills(read_cache(home), workspace_id=workspace_id,
                                   agent_id=agent_id, now=now)
    if skills is None:
        return Pulled(None, reason)
    state = StateFile.load(home)
    if state is None:
        return Pulled(None, "sync-state-unreadable")
    # Claude Code has already loaded the skills directory when it runs SessionStart hooks:
    # the session has what is on disk now, not what the pull is about to write.
    scope = scope_on_disk(skills, skills_dir, state, anchor=project_root)
    if scope is None:
        return Pulled(None, "skills-dir-refused")
    fd = _lock(home, wait_s)
    if fd is None:
        return Pulled(scope, "sync-lock-busy")
    try:  # re-read under the lock: a sync may have written both since
        cache = read_cache(home)
        skills, reason = usable_skills(cache, workspace_id=workspace_id, agent_id=agent_id,
                                       now=now)
        state = StateFile.load(home)
        if skills is None or state is None:
            return Pulled(scope, reason or "sync-state-unreadable")
        before = state.snapshot()
        applied = materialize(skills, skills_dir, state, anchor=project_root, durable=False,
                              complete=isinstance(cache, dict) and cache.get("complete") is True,
                              max_writes=max_writes)
        if state.snapshot() != before:
            state.save()
    finally:
        os.close(fd)  # drops the lock
    return Pulled(scope, "", applied)


def _lock(home: str, wait_s: float) -> int | None:
    """The sync lock's fd (held until closed), or ``None`` after ``wait_s``."""
    fd = private.open_file(os.path.join(home, LOCK_FILE), os.O_RDWR)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                return None
            time.sleep(0.002)

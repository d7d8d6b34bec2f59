"""Skill sync: the workspace's published skills become ``SKILL.md`` files on this machine.

``sync_once`` reads the compacted skills topic to its end (``runtime.kafka.read_to_end``,
the read every skills-log reader shares: no consumer group, nothing committed), keeps
the last value per key of *this* workspace only (a null value is a tombstone), and
applies that set to every target skills directory through :mod:`hivemind_kafka.producers.sync.skill_files`
(atomic writes, human edits never overwritten, tombstones remove, holdout respected).

Failure behaviour: if the broker cannot be read to the end within the timeout, nothing
is removed (a partial read could look like a retirement); skills already read are still
written and the report says ``complete=False``. Hostile records never stop a sync: a key
that is not UTF-8 or not ``<workspace>/<name>`` is skipped and counted
(``bad_keys``), so is a value that does not decode (``undecodable``) or an absurd record
timestamp; skills whose bodies the guards refuse, and skills directories reached through
a symlink, are reported (:mod:`hivemind_kafka.producers.sync.skill_files`) and nothing is written for them. One sync at a time per Hivemind home
(``<home>/sync.lock``), so agentd, ``hivemind sync`` and the SessionStart pull never
interleave.

The vetted set (``producers.sync.skill_files.vet_skills``: this agent's holdout applied, guards
re-checked, ``SKILL.md`` rendered) is computed once per pass, written to
``<home>/skills-cache.json`` (``producers.hook.skill_pull``: each SessionStart hook
materializes its project from it) and applied to every target with the same code the
hook runs (``producers.hook.skill_disk.materialize``).

Exposures (``<home>/exposures.jsonl``, read by the measurement side): when a sync runs
for a session (``session_id`` given), one line per live skill of the workspace, each a
``schemas.outcomes.Exposure`` as JSON (decode with ``schemas.outcomes.decode_exposure``)::

    {"exposure_id": "<session_id>/<skill>/assigned", "workspace_id": "…",
     "session_id": "…", "agent_id": "…", "skill_name": "fix-flaky-tests",
     "skill_version": 3, "cohort": "present" | "held_out", "ts": "…+00:00"}

``present``: Hivemind's file of exactly that version was on disk for the session's
project when the session started; ``held_out``: the agent is held out of the skill for
the period of this sync (schemas.holdout: a switchback, re-drawn every period). A skill
that is neither (a user-edited file stands in its
place, or the user deleted it) gets no row: the session belongs to neither cohort.
Rows are append-only; a re-run for the same session repeats the same ``exposure_id``.
This file stays local (``hivemind measure --exposures`` checks it against the assignment).

Skills in scope (``<home>/skills-in-scope.json``, read by the capture hook at
SessionStart, so exposures reach Kafka and the Delta ``exposures`` table through the
turns topic, spool and all): rewritten atomically at every sync, one entry per skills
directory the sync wrote into, keyed by the project root (``project_root`` logic,
resolved absolute path) or ``"_user"`` for the user's skills directory::

    {"/home/dev/app": [{"name": "fix-flaky-tests", "version": 3, "cohort": "present"},
                       {"name": "use-ripgrep", "version": 1, "cohort": "held_out"}],
     "_user": [...]}

Same cohort rules as the exposure rows above (a user-edited or deleted file: no entry).
Entries of directories not synced this time are kept as they were (a session sync
touches one project). The hook reads the file as the previous sync left it, i.e. the
skill files on disk when the session starts (the session's own sync runs after).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import Counter

from hivemind_kafka.producers import private
from hivemind_kafka.producers.hook.skill_pull import write_cache
from hivemind_kafka.producers.sync.skill_files import (
    SyncReport,
    SyncState,
    apply_entries,
    skill_status,
    vet_skills,
)
from hivemind_kafka.runtime.errors import BrokerUnavailable
from hivemind_kafka.runtime.kafka import read_to_end
from hivemind_kafka.runtime.settings import Settings
from hivemind_kafka.schemas.holdout import PeriodAssignment
from hivemind_kafka.schemas.outcomes import Cohort, Exposure
from hivemind_kafka.schemas.outcomes import encode as encode_exposure
from hivemind_kafka.schemas.skills import PublishedSkill, decode_skill_log

log = logging.getLogger(__name__)

SYNC_WRITES = Counter("hivemind_sync_writes_total",
                      "Skill files acted on by the sync, by action", ["action"])
SYNC_CONFLICTS = Counter("hivemind_sync_conflicts_total",
                         "Skill files found edited or authored by a user (left untouched)")
SYNC_RUNS = Counter("hivemind_sync_runs_total", "Sync runs, by outcome", ["outcome"])
SYNC_SKIPPED = Counter("hivemind_sync_skipped_records_total",
                       "Skills-topic records the sync skipped, by reason", ["reason"])

_ACTIONS = ("created", "updated", "removed", "held_out", "invalid", "kept_deleted", "refused",
            "rejected")


@dataclass
class WorkspaceSkills:
    """The compacted view of one workspace on the skills topic."""

    skills: dict[str, PublishedSkill | None] = field(default_factory=dict)
    complete: bool = False
    records_read: int = 0
    undecodable: int = 0  # values of this workspace that are not a Skill
    bad_keys: int = 0  # keys (of any workspace) that are not UTF-8 "<workspace>/<name>"


def read_workspace_skills(settings: Settings, workspace_id: str, *,
                          timeout_s: float = 10.0) -> WorkspaceSkills:
    """Read the skills topic to its end (:func:`runtime.kafka.read_to_end`); last value per
    key of ``workspace_id``.

    Raises :class:`BrokerUnavailable` when the topic's metadata cannot be fetched; returns
    ``complete=False`` when the end was not reached within ``timeout_s``.
    """
    return read_skills_views(settings, [workspace_id], timeout_s=timeout_s)[workspace_id]


def read_skills_views(settings: Settings, workspace_ids: Iterable[str], *,
                      timeout_s: float = 10.0) -> dict[str, WorkspaceSkills]:
    """:func:`read_workspace_skills` for several workspaces in one pass over the topic
    (the demo's fleet syncs every workspace each simulated day: one read, not one each)."""
    read = read_to_end(settings, settings.topics.skills, group_id="hivemind-skill-sync",
                       timeout_s=timeout_s)
    records = [(r.key, r.value, r.timestamp_ms) for r in read.records]
    views = {}
    for ws in workspace_ids:
        decoded = decode_skill_log(records, workspace_id=ws)
        views[ws] = WorkspaceSkills(
            skills={name: published for (_, name), published in decoded.entries},
            complete=read.complete, records_read=len(read.records),
            undecodable=decoded.undecodable, bad_keys=decoded.bad_keys)
    return views


@contextmanager
def sync_lock(home: Path) -> Iterator[None]:
    fd = private.open_file(home / "sync.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # agentd and `hivemind sync`, never the hook
        yield
    finally:
        os.close(fd)


def skills_dir_of(project: Path) -> Path:
    return Path(project).resolve() / ".claude" / "skills"


def project_root(cwd: str | Path) -> Path:
    """The project a session runs in: the git work tree containing ``cwd``, else ``cwd``
    (where Claude Code looks for ``.claude/skills``)."""
    path = Path(cwd).resolve()
    for candidate in (path, *path.parents):
        if (candidate / ".git").exists():
            return candidate
    return path


class ProjectRegistry:
    """``<home>/projects.json``: the projects this machine has seen sessions in.

    ``{"projects": {"/abs/path": {"first_seen": iso, "last_seen": iso}}}``, written
    atomically; agentd adds a project when it forwards a session_start whose ``cwd`` is
    in it, ``hivemind sync --project`` adds one by hand. Projects whose directory is gone
    are skipped (not removed: a network mount may come back)."""

    def __init__(self, home: Path) -> None:
        self.path = home / "projects.json"

    def load(self) -> dict[str, dict]:
        try:
            data = json.loads(self.path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        projects = data.get("projects") if isinstance(data, dict) else None
        return projects if isinstance(projects, dict) else {}

    def paths(self) -> list[Path]:
        return [Path(p) for p in sorted(self.load()) if Path(p).is_dir()]

    def add(self, project: Path, *, now: datetime | None = None) -> bool:
        """Record ``project`` (absolute); True when it was new."""
        key = str(Path(project).resolve())
        stamp = (now or datetime.now(UTC)).isoformat()
        projects = self.load()
        new = key not in projects
        entry = projects.get(key) or {"first_seen": stamp}
        projects[key] = {**entry, "last_seen": stamp}
        private.write_atomic(self.path, json.dumps({"projects": projects}, indent=1,
                                                   sort_keys=True).encode())
        return new


def installed_settings_files(home: Path, user_home: Path | None) -> list[Path]:
    """Settings files Hivemind installed into (install state) plus the usual places."""
    files: dict[str, Path] = {}
    for state in sorted((home / "install").glob("*.json")):
        try:
            data = json.loads(state.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict):
            continue
        if isinstance(data.get("settings_path"), str):
            files[data["settings_path"]] = Path(data["settings_path"])
    if user_home is not None:
        user = user_home / ".claude" / "settings.json"
        files.setdefault(str(user), user)
    return list(files.values())


def known_projects(home: Path, user_home: Path | None = None) -> list[Path]:
    """Projects with sessions seen (projects.json) or a project-scope install."""
    projects = {str(p): p for p in ProjectRegistry(home).paths()}
    user_claude = (user_home / ".claude").resolve() if user_home is not None else None
    for settings_file in installed_settings_files(home, None):
        claude_dir = settings_file.parent
        if claude_dir.name == ".claude" and claude_dir.resolve() != user_claude:
            project = claude_dir.parent.resolve()
            if project.is_dir():
                projects.setdefault(str(project), project)
    return [projects[k] for k in sorted(projects)]


@dataclass
class SyncResult:
    report: SyncReport
    complete: bool
    targets: list[Path]
    error: str | None = None
    bad_keys: int = 0  # records skipped: key not UTF-8 "<workspace>/<name>"
    undecodable: int = 0  # records of this workspace skipped: value not a Skill


def sync_once(settings: Settings, *, agent_id: str, projects: Sequence[Path] = (),
              user_skills_dir: Path | None = None, session_id: str | None = None,
              session_project: Path | None = None, timeout_s: float = 10.0,
              holdout: PeriodAssignment | None = None) -> SyncResult:
    """Sync this workspace's skills into ``projects`` (each ``<p>/.claude/skills``) and
    ``user_skills_dir``; with ``session_id`` also append the session's exposures.

    ``holdout``: the switchback period applied to every skill of this pass (default: the
    period holding now under the workspace's design in ``settings.measure``,
    schemas.holdout), so one pass never mixes two periods; the pull cache it writes
    expires with the period.

    Never raises for an unreachable broker: the result carries ``error`` and the files
    on disk stay as they were (exposures then use the last complete read's skill set)."""
    home = settings.edge.home_path()
    workspace_id = settings.edge.workspace_id
    holdout = holdout or settings.measure.holdout_design(workspace_id).at(datetime.now(UTC))
    targets = [skills_dir_of(p) for p in dict.fromkeys(Path(p) for p in projects)]
    # Symlinks are not followed below these (the project, ~/.claude): skill_files.SkillsDir
    anchors = {t: t.parent.parent for t in targets}
    if user_skills_dir is not None:
        targets.append(Path(user_skills_dir))
        anchors[Path(user_skills_dir)] = Path(user_skills_dir).parent
    error = None
    try:
        view = read_workspace_skills(settings, workspace_id, timeout_s=timeout_s)
    except BrokerUnavailable as exc:
        error = str(exc)
        view = WorkspaceSkills()
    report = SyncReport()
    # The vetted set, once per pass: what every target gets and what the SessionStart
    # pull materializes from the cache (producers.hook.skill_pull).
    entries, vetted = vet_skills(view.skills, workspace_id=workspace_id, agent_id=agent_id,
                                 holdout=holdout)
    with sync_lock(home):
        state = SyncState.load(home)
        if view.skills or view.complete:
            write_cache(str(home), entries, workspace_id=workspace_id, agent_id=agent_id,
                        complete=view.complete,
                        holdout_until=holdout.ends_at().timestamp())
            for target in targets:
                report.merge(vetted)
                report.merge(apply_entries(entries, target, state, complete=view.complete,
                                           anchor=anchors[target]))
        if view.complete:
            state.live = {name: p.skill.version for name, p in view.skills.items()
                          if p is not None}
        scope_targets = {str(Path(p).resolve()): skills_dir_of(p)
                         for p in dict.fromkeys(Path(p) for p in projects)}
        if user_skills_dir is not None:
            scope_targets[USER_SCOPE] = Path(user_skills_dir)
        write_skills_in_scope(home, _live(view, state), state, scope_targets,
                              agent_id=agent_id, holdout=holdout)
        if session_id is not None or session_project is not None:
            exposed_dir = (skills_dir_of(session_project) if session_project is not None
                           else (targets[0] if targets else None))
            record_exposures(home, view, state, target=exposed_dir, session_id=session_id,
                             agent_id=agent_id, workspace_id=workspace_id,
                             holdout=holdout)
        state.last_sync = {"at": datetime.now(UTC).isoformat(), "complete": view.complete,
                           "error": error, "targets": [str(t) for t in targets],
                           "skills": sum(1 for s in view.skills.values() if s is not None),
                           "bad_keys": view.bad_keys, "undecodable": view.undecodable,
                           **report.counts()}
        state.save()
    _count(report, error, view.complete)
    if view.bad_keys or view.undecodable:
        log.warning("skills topic: skipped %d records with a key that is not "
                    "<workspace>/<name> in UTF-8 and %d of this workspace whose value is not "
                    "a skill", view.bad_keys, view.undecodable)
    SYNC_SKIPPED.labels(reason="bad_key").inc(view.bad_keys)
    SYNC_SKIPPED.labels(reason="undecodable").inc(view.undecodable)
    return SyncResult(report=report, complete=view.complete, targets=targets, error=error,
                      bad_keys=view.bad_keys, undecodable=view.undecodable)


def _count(report: SyncReport, error: str | None, complete: bool) -> None:
    for action in _ACTIONS:
        n = len(getattr(report, action))
        if n:
            SYNC_WRITES.labels(action=action).inc(n)
    if report.new_conflicts:
        SYNC_CONFLICTS.inc(len(report.new_conflicts))
    SYNC_RUNS.labels(outcome="error" if error else ("complete" if complete else "partial")).inc()


def record_exposures(home: Path, view: WorkspaceSkills, state: SyncState, *,
                     target: Path | None, session_id: str | None, agent_id: str,
                     workspace_id: str, holdout: PeriodAssignment | None = None) -> int:
    """Append the session's exposure rows (format in the module docstring); returns how
    many. Uses the skills just read, or those of the last complete read if this one was
    not complete."""
    if not session_id:
        return 0
    now = datetime.now(UTC)
    lines = []
    for name, version in sorted(_live(view, state).items()):
        status = skill_status(name, version, target, state, agent_id=agent_id,
                              holdout=holdout)
        if status not in (Cohort.PRESENT, Cohort.HELD_OUT):
            continue
        lines.append(_assigned(session_id, name, version, Cohort(status), now=now,
                               workspace_id=workspace_id, agent_id=agent_id))
    return _append_exposures(home, lines)


def record_scope_exposures(home: Path, scope: Sequence[dict], *, session_id: str,
                           agent_id: str, workspace_id: str) -> int:
    """Append the session's exposure rows (same format and ids as
    :func:`record_exposures`) from the ``skills_in_scope`` its session_start recorded:
    the versions on disk as it started and those held out. Returns how many."""
    now = datetime.now(UTC)
    return _append_exposures(home, [
        _assigned(session_id, e["name"], e["version"], Cohort(e["cohort"]), now=now,
                  workspace_id=workspace_id, agent_id=agent_id) for e in scope])


def _assigned(session_id: str, name: str, version: int, cohort: Cohort, *, now: datetime,
              workspace_id: str, agent_id: str) -> bytes:
    """One assignment exposure row (format in the module docstring), encoded."""
    return encode_exposure(Exposure(
        exposure_id=f"{session_id}/{name}/assigned"[:256], workspace_id=workspace_id,
        session_id=session_id, agent_id=agent_id, skill_name=name, skill_version=version,
        cohort=cohort, ts=now))


def _append_exposures(home: Path, lines: list[bytes]) -> int:
    """Append ``lines`` to ``<home>/exposures.jsonl`` in one write; returns how many."""
    if lines:
        fd = private.open_file(home / "exposures.jsonl", os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, b"\n".join(lines) + b"\n")
        finally:
            os.close(fd)
    return len(lines)


SCOPE_FILE = "skills-in-scope.json"
USER_SCOPE = "_user"


def _live(view: WorkspaceSkills, state: SyncState) -> dict[str, int]:
    """The live skills: those just read, or the last complete read's if this one read
    nothing (broker unavailable)."""
    if view.complete or view.skills:
        return {name: p.skill.version for name, p in view.skills.items() if p is not None}
    return dict(state.live)


def skills_in_scope(live: dict[str, int], skills_dir: Path | None, state: SyncState, *,
                    agent_id: str, holdout: PeriodAssignment | None = None) -> list[dict]:
    """``[{"name", "version", "cohort"}]`` of the ``live`` skills this agent has in
    ``skills_dir`` (``present``) or is held out of (``held_out``), sorted by name."""
    out = []
    for name, version in sorted(live.items()):
        status = skill_status(name, version, skills_dir, state, agent_id=agent_id,
                              holdout=holdout)
        if status in (Cohort.PRESENT, Cohort.HELD_OUT):
            out.append({"name": name, "version": version, "cohort": status})
    return out


def load_skills_in_scope(home: Path) -> dict[str, list[dict]]:
    """``<home>/skills-in-scope.json``; ``{}`` when missing or unreadable."""
    try:
        data = json.loads((home / SCOPE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, list)}


def write_skills_in_scope(home: Path, live: dict[str, int], state: SyncState,
                          targets: dict[str, Path], *, agent_id: str,
                          holdout: PeriodAssignment | None = None) -> Path:
    """Replace the entries of ``targets`` (key -> skills directory) in the scope file,
    keep the others, and write it atomically (call under :func:`sync_lock`); no targets:
    nothing is written."""
    path = home / SCOPE_FILE
    if not targets:
        return path
    scope = load_skills_in_scope(home)
    for key, skills_dir in targets.items():
        scope[key] = skills_in_scope(live, skills_dir, state, agent_id=agent_id,
                                     holdout=holdout)
    private.write_atomic(path, json.dumps(scope, sort_keys=True, separators=(",", ":")).encode())
    return path

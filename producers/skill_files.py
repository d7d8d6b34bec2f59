"""Skill files on disk: render ``SKILL.md``, write it atomically, never clobber a human's.

Guarantees, for one skills directory (``<project>/.claude/skills`` or ``~/.claude/skills``):

* A file is written by rename of a fully written temp file in the same directory, so
  Claude Code never reads half a ``SKILL.md``.
* The sha256 of every file Hivemind writes is recorded in :class:`SyncState`
  (``<home>/sync-state.json``). A file whose bytes no longer match that hash, or a file
  Hivemind never wrote, is *the user's*: it is never overwritten or deleted; the skill
  is reported as a :class:`Conflict` and left alone until the user restores or deletes
  the file.
* A file the user deleted is not recreated for the version it had; a newer version is
  written again.
* A tombstone (or a skill retired while this machine was offline, i.e. absent from a
  complete read of the topic) removes ``SKILL.md`` and then its directory if it is empty.
* Held-out skills (``schemas.holdout``: the periods this agent is held out of a skill)
  are treated like retired ones for this agent; its next present period restores them.

No Kafka here: :func:`apply_skills` takes the workspace's skill set as a mapping, which
makes every rule above testable on a temp directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from schemas.holdout import PeriodAssignment, current_assignment
from schemas.skills import MAX_DESCRIPTION_LEN, Skill, is_valid_skill_name

log = logging.getLogger(__name__)

SKILL_FILE = "SKILL.md"


def hivemind_version() -> str:
    try:
        from importlib.metadata import version

        return version("hivemind-kafka")
    except Exception:
        return "0.1.0"


@dataclass(frozen=True)
class PublishedSkill:
    """One live skill as read from the skills topic, with its publish time."""

    skill: Skill
    published_at: datetime


def _quote(value: str) -> str:
    # A JSON string is a valid YAML double-quoted scalar; one line, every char escaped.
    return json.dumps(value, ensure_ascii=False)


def render_skill_md(published: PublishedSkill, *, version: str | None = None) -> str:
    """The ``SKILL.md`` text: YAML front matter (``name``, ``description``, ``metadata``
    map of strings) then the body. Deterministic for a given skill and publish time."""
    skill = published.skill
    prov = skill.provenance
    metadata = {
        "hivemind_version": version or hivemind_version(),
        "skill_version": str(skill.version),
        "source_sessions": ",".join(prov.source_session_ids),
        "codifier": prov.codifier,
        "published_at": published.published_at.astimezone(UTC).isoformat(),
    }
    lines = ["---", f"name: {skill.name}", f"description: {_quote(skill.description)}",
             "metadata:"]
    lines += [f"  {key}: {_quote(value)}" for key, value in metadata.items()]
    lines.append("---")
    body = skill.body.rstrip("\n")
    return "\n".join(lines) + "\n\n" + body + "\n"


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def invalid_reason(skill: Skill, workspace_id: str, key_name: str) -> str | None:
    """Why a skill may not be written into this workspace's skills directory, or None."""
    if skill.workspace_id != workspace_id:
        return f"skill belongs to workspace {skill.workspace_id!r}, not {workspace_id!r}"
    if skill.name != key_name:
        return f"skill name {skill.name!r} differs from its key's name {key_name!r}"
    if not is_valid_skill_name(skill.name):
        return f"{skill.name!r} is not a valid Agent Skills name"
    if not skill.description.strip() or len(skill.description) > MAX_DESCRIPTION_LEN:
        return f"description must be 1..{MAX_DESCRIPTION_LEN} characters"
    return None


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file and rename (readers see old or new)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


# --------------------------------------------------------------------------- state


class SyncState:
    """``<home>/sync-state.json``: what Hivemind wrote where, and the open conflicts.

    Layout: ``{"files": {"<abs SKILL.md path>": {"hash", "name", "version"}},
    "deleted": {"<path>": version}, "conflicts": {"<path>": {"name", "version", "reason",
    "since"}}, "last_sync": {"at", "complete", "created", ...}, "live": {name: version}}``.
    Written atomically.
    """

    def __init__(self, path: Path, data: dict | None = None) -> None:
        self.path = path
        data = data or {}
        self.files: dict[str, dict] = dict(data.get("files", {}))
        self.deleted: dict[str, int] = dict(data.get("deleted", {}))
        self.conflicts: dict[str, dict] = dict(data.get("conflicts", {}))
        self.last_sync: dict = dict(data.get("last_sync", {}))
        # name -> version of the workspace's live skills at the last complete read, so
        # exposures can be recorded while the broker is unreachable.
        self.live: dict[str, int] = dict(data.get("live", {}))

    @classmethod
    def load(cls, home: Path) -> SyncState:
        path = home / "sync-state.json"
        try:
            return cls(path, json.loads(path.read_text()))
        except FileNotFoundError:
            return cls(path)
        except (json.JSONDecodeError, AttributeError):
            log.warning("sync state %s is unreadable; starting a new one", path)
            return cls(path)

    def save(self) -> None:
        data = {"files": self.files, "deleted": self.deleted, "conflicts": self.conflicts,
                "last_sync": self.last_sync, "live": self.live}
        atomic_write(self.path, json.dumps(data, indent=1, sort_keys=True).encode())

    def names_in(self, skills_dir: Path) -> set[str]:
        prefix = str(skills_dir) + os.sep
        return {entry["name"] for p, entry in self.files.items() if p.startswith(prefix)}


# --------------------------------------------------------------------------- apply


@dataclass(frozen=True)
class Conflict:
    path: str
    name: str
    version: int | None
    reason: str  # "edited" | "not_written_by_hivemind"


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    held_out: list[str] = field(default_factory=list)
    kept_deleted: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    new_conflicts: list[Conflict] = field(default_factory=list)

    def merge(self, other: SyncReport) -> None:
        for name in self.__dataclass_fields__:
            getattr(self, name).extend(getattr(other, name))

    def counts(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in self.__dataclass_fields__}


def apply_skills(skills: Mapping[str, PublishedSkill | None], skills_dir: Path,
                 state: SyncState, *, workspace_id: str, agent_id: str,
                 complete: bool, holdout: PeriodAssignment | None = None,
                 version: str | None = None) -> SyncReport:
    """Bring ``skills_dir`` in line with ``skills`` (name -> live skill, or None for a
    tombstone) under the rules in the module docstring. ``complete`` says ``skills`` is
    the whole workspace set (a full read), so a skill Hivemind wrote earlier that is
    missing from it was retired while this machine was away and is removed too.
    Updates ``state`` in memory; the caller saves it. ``holdout``: the switchback period
    to apply (schemas.holdout; default: the current period of the default design)."""
    holdout = holdout or current_assignment()
    report = SyncReport()
    wanted: dict[str, PublishedSkill | None] = dict(skills)
    if complete:
        for name in state.names_in(skills_dir):
            wanted.setdefault(name, None)
    for name, published in sorted(wanted.items()):
        if not is_valid_skill_name(name):
            report.invalid.append(name)  # never build a path from an invalid name
            continue
        path = skills_dir / name / SKILL_FILE
        if published is not None:
            reason = invalid_reason(published.skill, workspace_id, name)
            if reason is not None:
                log.warning("skipping skill name=%s: %s", name, reason)
                report.invalid.append(name)
                continue
            if holdout.held_out(name, agent_id):
                report.held_out.append(name)
                published = None
        _apply_one(name, published, path, state, report, version)
    return report


def _apply_one(name: str, published: PublishedSkill | None, path: Path, state: SyncState,
               report: SyncReport, version: str | None) -> None:
    key = str(path)
    recorded = state.files.get(key)
    try:
        current: bytes | None = path.read_bytes()
    except FileNotFoundError:
        current = None
    desired = render_skill_md(published, version=version).encode() if published else None
    skill_version = published.skill.version if published else None

    if current is None:
        state.conflicts.pop(key, None)
        if desired is None:
            state.files.pop(key, None)
            return
        if recorded is not None and state.deleted.get(key) == skill_version:
            report.kept_deleted.append(name)
            return
        if recorded is not None and skill_version is not None \
                and recorded.get("version") == skill_version:
            # The user deleted the file Hivemind wrote: respect it for this version.
            state.deleted[key] = skill_version
            report.kept_deleted.append(name)
            return
        atomic_write(path, desired)
        _record(state, key, name, skill_version, desired)
        report.created.append(name)
        return

    current_hash = content_hash(current)
    if desired is not None and current_hash == content_hash(desired):
        _record(state, key, name, skill_version, desired)
        state.conflicts.pop(key, None)
        report.unchanged.append(name)
        return
    if recorded is None or recorded.get("hash") != current_hash:
        conflict = Conflict(path=key, name=name, version=skill_version,
                            reason="edited" if recorded else "not_written_by_hivemind")
        report.conflicts.append(conflict)
        previous = state.conflicts.get(key)
        if previous is None or previous.get("version") != skill_version:
            report.new_conflicts.append(conflict)
            log.warning("skill name=%s path=%s is %s; left untouched", name, key,
                        conflict.reason)
        state.conflicts[key] = {"name": name, "version": skill_version,
                                "reason": conflict.reason,
                                "since": (previous or {}).get("since")
                                or datetime.now(UTC).isoformat()}
        return
    state.conflicts.pop(key, None)
    if desired is None:
        path.unlink()
        with contextlib.suppress(OSError):  # not empty: the user put files there
            path.parent.rmdir()
        state.files.pop(key, None)
        state.deleted.pop(key, None)
        report.removed.append(name)
        return
    atomic_write(path, desired)
    _record(state, key, name, skill_version, desired)
    report.updated.append(name)


def _record(state: SyncState, key: str, name: str, version: int | None, data: bytes) -> None:
    state.files[key] = {"hash": content_hash(data), "name": name, "version": version}
    state.deleted.pop(key, None)


def skill_status(name: str, version: int, skills_dir: Path | None, state: SyncState,
                 *, agent_id: str, holdout: PeriodAssignment | None = None) -> str:
    """What this agent has of skill ``name`` at ``version`` in ``skills_dir``:
    ``present`` (exactly that version, as Hivemind wrote it), ``held_out``, ``conflict``
    (a user's file stands in its place) or ``absent``."""
    if (holdout or current_assignment()).held_out(name, agent_id):
        return "held_out"
    if skills_dir is None:
        return "absent"
    path = skills_dir / name / SKILL_FILE
    if str(path) in state.conflicts:
        return "conflict"
    recorded = state.files.get(str(path))
    if not recorded or recorded.get("version") != version:
        return "absent"
    try:
        on_disk = path.read_bytes()
    except FileNotFoundError:
        return "absent"
    return "present" if content_hash(on_disk) == recorded.get("hash") else "conflict"

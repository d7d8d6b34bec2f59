"""Skill files on disk: write ``SKILL.md`` atomically, never clobber a human's.

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
* **No symlink is followed** from the directory's anchor (the project for
  ``<project>/.claude/skills``, ``~/.claude`` for the user's) down to ``SKILL.md``: every
  component is opened with ``O_NOFOLLOW`` relative to its parent's descriptor, so a
  symlinked ``.claude``, ``skills``, skill directory or ``SKILL.md`` (a cloned repository
  can carry any of them) is *refused*: reported in :attr:`SyncReport.refused`, never
  read, written or removed through. A FIFO or device in their place is refused too.
* **Bodies are re-checked** before a file is written (:func:`body_rejection`: the
  codifier's secret and injection guards): a record put on the topic by anyone with
  write access is not trusted; a rejected skill is reported and leaves disk as it was.
* **Front matter reads back exactly**: the file is :func:`schemas.skills.render_skill_md`'s,
  the one renderer (``hivemind skills show`` prints the same bytes).

No Kafka here: :func:`apply_skills` takes the workspace's skill set as a mapping, which
makes every rule above testable on a temp directory. It is :func:`vet_skills` (names,
workspace, holdout, guards, rendering: the *vetted set*, which the sync also caches for
the SessionStart pull) then :func:`apply_entries`, whose disk rules and no-symlink writer
are :mod:`hivemind_kafka.producers.hook.skill_disk`'s, the code the capture hook runs for the pull.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from hivemind_kafka.producers import private
from hivemind_kafka.producers.hook.skill_disk import (
    SKILL_FILE,
    SkillsDir,
    UnsafePath,
    content_hash,
    materialize,
)
from hivemind_kafka.schemas.holdout import PeriodAssignment, current_assignment
from hivemind_kafka.schemas.outcomes import Cohort
from hivemind_kafka.schemas.skills import (
    MAX_DESCRIPTION_LEN,
    PublishedSkill,
    Skill,
    is_valid_skill_name,
    render_skill_md,
)

log = logging.getLogger(__name__)


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
    for label, text in (("description", skill.description), ("body", skill.body)):
        try:
            text.encode()
        except UnicodeEncodeError:
            return f"{label} holds a lone surrogate (not UTF-8 text)"
    return None


def body_rejection(name: str, description: str, body: str) -> list[str]:
    """Why the edge refuses to write a skill with this text (empty: it may be written).

    The codifier's session-independent guards (:func:`streams.codifier.guards.
    check_published_body`: shape format, secrets, invisible characters, delimiters,
    overrides, pipe-to-shell and every dangerous action) run again on what arrived from
    the topic, which anyone with write access to it could have put there. Without the
    source sessions nothing grounds a dangerous action, so a skill the codifier published
    because the user asked for ``--force`` is refused here too: it stays in the library
    (``hivemind skills show``) for a human to copy by hand."""
    from hivemind_kafka.streams.codifier.guards import check_published_body

    return list(check_published_body(name, description, body).reasons)


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
        private.write_atomic(self.path, json.dumps(data, indent=1, sort_keys=True).encode())

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


@dataclass(frozen=True)
class Refusal:
    """A skill (``name``; ``"*"`` for a whole skills directory) not synced because a
    path on the way is a symlink or the wrong type of file."""

    path: str
    name: str
    reason: str


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
    refused: list[Refusal] = field(default_factory=list)  # symlinks, never followed
    rejected: list[str] = field(default_factory=list)  # bodies the guards refused

    def merge(self, other: SyncReport) -> None:
        for name in self.__dataclass_fields__:
            getattr(self, name).extend(getattr(other, name))

    def counts(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in self.__dataclass_fields__}


def vet_skills(skills: Mapping[str, PublishedSkill | None], *, workspace_id: str,
               agent_id: str, holdout: PeriodAssignment | None = None,
               version: str | None = None) -> tuple[dict[str, dict | None], SyncReport]:
    """The vetted set for this agent (``producers.hook.skill_disk`` entries) of ``skills``
    (name -> live skill, or None for a tombstone), and a report of the names held out,
    invalid or refused by the guards. What :func:`apply_skills` writes, and what the
    sync caches for the SessionStart pull (``producers.hook.skill_pull``): each live skill is
    checked (name, workspace, description), left out for a held-out agent, re-checked by
    the guards, and rendered once."""
    holdout = holdout or current_assignment()
    report = SyncReport()
    entries: dict[str, dict | None] = {}
    for name, published in sorted(skills.items()):
        if not is_valid_skill_name(name):
            report.invalid.append(name)  # never build a path from an invalid name
            continue
        if published is None:
            entries[name] = None
            continue
        reason = invalid_reason(published.skill, workspace_id, name)
        if reason is not None:
            log.warning("skipping skill name=%s: %s", name, reason)
            report.invalid.append(name)
            entries[name] = {"version": published.skill.version, "skip": "invalid"}
            continue
        if holdout.held_out(name, agent_id):
            report.held_out.append(name)
            entries[name] = {"version": published.skill.version, "cohort": Cohort.HELD_OUT.value}
            continue
        rejection = _body_rejection_cached(published.skill.name, published.skill.description,
                                           published.skill.body)
        if rejection:
            log.warning("skill name=%s version=%d refused by the guards: %s; disk left "
                        "as it was", name, published.skill.version, "; ".join(rejection))
            report.rejected.append(name)
            entries[name] = {"version": published.skill.version, "skip": "rejected"}
            continue
        content = render_skill_md(published, version=version)
        entries[name] = {"version": published.skill.version, "cohort": Cohort.PRESENT.value,
                         "content": content, "sha256": content_hash(content.encode())}
    return entries, report


def apply_entries(entries: Mapping[str, dict | None], skills_dir: Path, state: SyncState, *,
                  complete: bool, anchor: Path | None = None) -> SyncReport:
    """Bring ``skills_dir`` in line with the vetted ``entries`` (:func:`vet_skills`):
    :func:`producers.hook.skill_disk.materialize`, the rules the SessionStart pull applies
    too, reported (and logged) as a :class:`SyncReport`."""
    done = materialize(entries, skills_dir, state, complete=complete, anchor=anchor,
                       now=datetime.now(UTC).isoformat())
    report = SyncReport(created=done.created, updated=done.updated, removed=done.removed,
                        unchanged=done.unchanged, kept_deleted=done.kept_deleted,
                        invalid=done.invalid)
    report.conflicts = [Conflict(*c) for c in done.conflicts]
    report.new_conflicts = [Conflict(*c) for c in done.new_conflicts]
    for c in report.new_conflicts:
        log.warning("skill name=%s path=%s is %s; left untouched", c.name, c.path, c.reason)
    for path, name, reason in done.refused:
        if name == "*":
            log.warning("skills directory refused path=%s: %s; nothing synced into it",
                        path, reason)
        else:
            log.warning("skill name=%s refused path=%s: %s", name, path, reason)
        report.refused.append(Refusal(path, name, reason))
    return report


def apply_skills(skills: Mapping[str, PublishedSkill | None], skills_dir: Path,
                 state: SyncState, *, workspace_id: str, agent_id: str,
                 complete: bool, holdout: PeriodAssignment | None = None,
                 version: str | None = None, anchor: Path | None = None) -> SyncReport:
    """Bring ``skills_dir`` in line with ``skills`` (name -> live skill, or None for a
    tombstone) under the rules in the module docstring: :func:`vet_skills` then
    :func:`apply_entries`. ``complete`` says ``skills`` is the whole workspace set (a
    full read), so a skill Hivemind wrote earlier that is missing from it was retired
    while this machine was away and is removed too. ``anchor``: where symlinks stop
    being followed (see :class:`SkillsDir`; default ``skills_dir``'s parent).
    ``holdout``: the switchback period to apply (schemas.holdout; default: the current
    period of the default design). Updates ``state`` in memory; the caller saves it."""
    entries, report = vet_skills(skills, workspace_id=workspace_id, agent_id=agent_id,
                                 holdout=holdout, version=version)
    report.merge(apply_entries(entries, skills_dir, state, complete=complete, anchor=anchor))
    return report


@functools.lru_cache(maxsize=4096)
def _body_rejection_cached(name: str, description: str, body: str) -> tuple[str, ...]:
    # A sync pass (every 30 s, per project) sees the same skill texts every time.
    return tuple(body_rejection(name, description, body))


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
        on_disk = SkillsDir(skills_dir).read(name)
    except UnsafePath:
        return "conflict"  # a symlink stands where Hivemind's file should be
    if on_disk is None:
        return "absent"
    return "present" if content_hash(on_disk) == recorded.get("hash") else "conflict"

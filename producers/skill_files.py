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
* **No symlink is followed** from the directory's anchor (the project for
  ``<project>/.claude/skills``, ``~/.claude`` for the user's) down to ``SKILL.md``: every
  component is opened with ``O_NOFOLLOW`` relative to its parent's descriptor, so a
  symlinked ``.claude``, ``skills``, skill directory or ``SKILL.md`` (a cloned repository
  can carry any of them) is *refused*: reported in :attr:`SyncReport.refused`, never
  read, written or removed through. A FIFO or device in their place is refused too.
* **Bodies are re-checked** before a file is written (:func:`body_rejection`: the
  codifier's secret and injection guards): a record put on the topic by anyone with
  write access is not trusted; a rejected skill is reported and leaves disk as it was.
* **Front matter reads back exactly.** Every value is a YAML double-quoted scalar with
  quotes, backslashes, control and format characters, and every line or paragraph
  separator (U+0085, U+2028, U+2029, ...) escaped, so any YAML 1.1 or 1.2 parser reads
  the original text.

No Kafka here: :func:`apply_skills` takes the workspace's skill set as a mapping, which
makes every rule above testable on a temp directory.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import logging
import os
import stat
import tempfile
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from producers import private
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
    """``value`` as a one-line YAML double-quoted scalar that YAML 1.1 and 1.2 parsers
    both read back as ``value``.

    JSON quoting is not enough: it leaves U+0085, U+2028 and U+2029 raw, which YAML 1.1
    (PyYAML, and Claude Code's parser family) treats as line breaks and folds into a
    space, and DEL/C1 controls, which YAML forbids unescaped. So quotes and backslashes
    are escaped, and so is every character in a Unicode "other" category (controls,
    format characters such as bidi overrides and zero-width marks, lone surrogates,
    private use, unassigned) or a line/paragraph separator; the rest stays readable."""
    out = ['"']
    for ch in value:
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif " " <= ch <= "~":
            out.append(ch)
        elif ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        elif ord(ch) < 0x80 or unicodedata.category(ch)[0] == "C" \
                or unicodedata.category(ch) in ("Zl", "Zp"):
            code = ord(ch)
            out.append(f"\\x{code:02X}" if code <= 0xFF else
                       f"\\u{code:04X}" if code <= 0xFFFF else f"\\U{code:08X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


_SHORT_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\x00": "\\0"}


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
    for label, text in (("description", skill.description), ("body", skill.body)):
        try:
            text.encode()
        except UnicodeEncodeError:
            return f"{label} holds a lone surrogate (not UTF-8 text)"
    return None


def body_rejection(name: str, description: str, body: str) -> list[str]:
    """Why the edge refuses to write a skill with this text (empty: it may be written).

    The codifier's session-independent guards (:func:`streams.codifier.guards.
    check_published_body`: shape, secrets, invisible characters, delimiters, overrides,
    pipe-to-shell and every dangerous action) run again on what arrived from the topic,
    which anyone with write access to it could have put there. Without the source
    sessions nothing grounds a dangerous action, so a skill the codifier published
    because the user asked for ``--force`` is refused here too: it stays in the library
    (``hivemind skills show``) for a human to copy by hand."""
    from streams.codifier.guards import check_published_body

    return list(check_published_body(name, description, body).reasons)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file and rename (readers see old or new).
    For files in the Hivemind home: the file is 0600, missing directories 0700."""
    private.makedirs(path.parent)
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



# --------------------------------------------------------------------------- no symlinks

MAX_SKILL_FILE_BYTES = 16 * 1024 * 1024


class UnsafePath(Exception):
    """A path component under a skills directory's anchor is a symlink, or not the
    directory/regular file expected there; nothing is done through it."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class SkillsDir:
    """One skills directory, reached from ``anchor`` by descriptors only.

    ``anchor`` is trusted and may itself be reached through symlinks (a project path,
    ``~/.claude``); every component below it (``.claude``, ``skills``, ``<name>``,
    ``SKILL.md``) is opened with ``O_NOFOLLOW`` relative to its parent's descriptor, so
    swapping a component for a symlink between a check and a use changes nothing.
    Methods raise :class:`UnsafePath` for a symlink or a wrong file type."""

    def __init__(self, path: Path, anchor: Path | None = None) -> None:
        self.path = Path(path)
        self.anchor = Path(anchor) if anchor is not None else self.path.parent
        try:
            self.parts = self.path.relative_to(self.anchor).parts
        except ValueError:
            raise ValueError(f"{self.path} is not under its anchor {self.anchor}") from None
        if any(part in ("", ".", "..") for part in self.parts):
            raise ValueError(f"{self.path}: '.' or '..' below the anchor {self.anchor}")

    def read(self, name: str) -> bytes | None:
        """``<name>/SKILL.md``'s bytes; ``None`` when it (or a directory above) is absent."""
        fd = self._open_dirs((*self.parts, name), create=False)
        if fd is None:
            return None
        try:
            try:
                file_fd = os.open(SKILL_FILE, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
                                  | os.O_CLOEXEC, dir_fd=fd)
            except FileNotFoundError:
                return None
            except OSError as exc:
                raise self._unsafe(exc, self.path / name / SKILL_FILE) from None
        finally:
            os.close(fd)
        try:
            st = os.fstat(file_fd)
            if not stat.S_ISREG(st.st_mode):
                raise UnsafePath(self.path / name / SKILL_FILE, "not a regular file")
            if st.st_size > MAX_SKILL_FILE_BYTES:
                raise UnsafePath(self.path / name / SKILL_FILE,
                                 f"larger than {MAX_SKILL_FILE_BYTES} bytes")
            chunks = []
            while chunk := os.read(file_fd, 1 << 20):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(file_fd)

    def write(self, name: str, data: bytes) -> None:
        """Replace ``<name>/SKILL.md`` atomically (temp file + rename in its directory),
        creating the directories; a symlink on the way is refused, never written."""
        fd = self._open_dirs((*self.parts, name), create=True)
        assert fd is not None
        try:
            tmp = f".{SKILL_FILE}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
            file_fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                              | os.O_CLOEXEC, 0o600, dir_fd=fd)
            try:
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(file_fd, view):]
                    os.fsync(file_fd)
                finally:
                    os.close(file_fd)
                # rename never follows a symlink at the destination: it replaces the entry
                os.replace(tmp, SKILL_FILE, src_dir_fd=fd, dst_dir_fd=fd)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp, dir_fd=fd)
                raise
        finally:
            os.close(fd)

    def remove(self, name: str) -> None:
        """Delete ``<name>/SKILL.md`` (the entry itself), then ``<name>`` if empty."""
        parent = self._open_dirs(self.parts, create=False)
        if parent is None:
            return
        try:
            fd = self._open_dir_at(parent, name, self.path / name)
            if fd is None:
                return
            try:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(SKILL_FILE, dir_fd=fd)
            finally:
                os.close(fd)
            with contextlib.suppress(OSError):  # not empty: the user put files there
                os.rmdir(name, dir_fd=parent)
        finally:
            os.close(parent)

    def check(self) -> None:
        """Raise :class:`UnsafePath` when a directory from the anchor down is a
        symlink or not a directory (absent ones are fine)."""
        fd = self._open_dirs(self.parts, create=False)
        if fd is not None:
            os.close(fd)

    def _open_dirs(self, parts: tuple[str, ...], *, create: bool) -> int | None:
        try:
            fd = os.open(self.anchor, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            if not create:
                return None
            self.anchor.mkdir(parents=True, exist_ok=True)  # the anchor is trusted
            fd = os.open(self.anchor, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        path = self.anchor
        try:
            for part in parts:
                path = path / part
                nxt = self._open_dir_at(fd, part, path)
                if nxt is None:
                    if not create:
                        return None
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, 0o777, dir_fd=fd)
                    nxt = self._open_dir_at(fd, part, path)
                    if nxt is None:
                        raise UnsafePath(path, "vanished while being created")
                os.close(fd)
                fd = nxt
            result, fd = fd, -1
            return result
        finally:
            if fd >= 0:
                os.close(fd)

    def _open_dir_at(self, fd: int, part: str, path: Path) -> int | None:
        try:
            return os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                           dir_fd=fd)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            try:
                is_link = stat.S_ISLNK(os.stat(part, dir_fd=fd, follow_symlinks=False).st_mode)
            except OSError:
                is_link = exc.errno == errno.ELOOP
            raise UnsafePath(path, "is a symlink" if is_link else "is not a directory") from None

    @staticmethod
    def _unsafe(exc: OSError, path: Path) -> Exception:
        if exc.errno == errno.ELOOP:
            return UnsafePath(path, "is a symlink")
        return exc


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


def apply_skills(skills: Mapping[str, PublishedSkill | None], skills_dir: Path,
                 state: SyncState, *, workspace_id: str, agent_id: str,
                 complete: bool, holdout: PeriodAssignment | None = None,
                 version: str | None = None, anchor: Path | None = None) -> SyncReport:
    """Bring ``skills_dir`` in line with ``skills`` (name -> live skill, or None for a
    tombstone) under the rules in the module docstring. ``complete`` says ``skills`` is
    the whole workspace set (a full read), so a skill Hivemind wrote earlier that is
    missing from it was retired while this machine was away and is removed too.
    ``anchor``: where symlinks stop being followed (see :class:`SkillsDir`; default
    ``skills_dir``'s parent). ``holdout``: the switchback period to apply
    (schemas.holdout; default: the current period of the default design). Updates
    ``state`` in memory; the caller saves it."""
    holdout = holdout or current_assignment()
    report = SyncReport()
    fs = SkillsDir(skills_dir, anchor)
    try:
        fs.check()
    except UnsafePath as exc:
        log.warning("skills directory refused path=%s: %s; nothing synced into it",
                    exc.path, exc.reason)
        report.refused.append(Refusal(str(exc.path), "*", exc.reason))
        return report
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
        if published is not None:
            rejection = _body_rejection_cached(published.skill.name,
                                               published.skill.description,
                                               published.skill.body)
            if rejection:
                log.warning("skill name=%s version=%d refused by the guards: %s; disk left "
                            "as it was", name, published.skill.version, "; ".join(rejection))
                report.rejected.append(name)
                continue
        try:
            _apply_one(name, published, fs, path, state, report, version)
        except UnsafePath as exc:
            log.warning("skill name=%s refused path=%s: %s", name, exc.path, exc.reason)
            report.refused.append(Refusal(str(exc.path), name, exc.reason))
    return report


@functools.lru_cache(maxsize=4096)
def _body_rejection_cached(name: str, description: str, body: str) -> tuple[str, ...]:
    # A sync pass (every 30 s, per project) sees the same skill texts every time.
    return tuple(body_rejection(name, description, body))


def _apply_one(name: str, published: PublishedSkill | None, fs: SkillsDir, path: Path,
               state: SyncState, report: SyncReport, version: str | None) -> None:
    key = str(path)
    recorded = state.files.get(key)
    current = fs.read(name)
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
        fs.write(name, desired)
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
        fs.remove(name)
        state.files.pop(key, None)
        state.deleted.pop(key, None)
        report.removed.append(name)
        return
    fs.write(name, desired)
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
        on_disk = SkillsDir(skills_dir).read(name)
    except UnsafePath:
        return "conflict"  # a symlink stands where Hivemind's file should be
    if on_disk is None:
        return "absent"
    return "present" if content_hash(on_disk) == recorded.get("hash") else "conflict"

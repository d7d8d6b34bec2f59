"""Skill files on disk with the standard library only: the no-symlink walker and the one
set of rules that brings a skills directory in line with a vetted skill set.

Both writers of ``SKILL.md`` files go through :func:`materialize`: the sync
(:func:`producers.sync.skill_files.apply_skills`, run by agentd and ``hivemind sync``) and the
SessionStart pull (:mod:`hivemind_kafka.producers.hook.skill_pull`, run inside the capture hook). Whichever
process writes, for one skills directory:

* A file is written by rename of a fully written temp file in its own directory, so
  Claude Code never reads half a ``SKILL.md``; the sync fsyncs it first (all of a pass's
  files back to back), the SessionStart pull does not (``durable``; agentd's sync for
  the same session start follows within moments and saves the state durably). An empty or
  NUL-filled ``SKILL.md`` (what a power cut can leave of an unsynced write) holds nothing
  of anyone's and is rewritten.
* The sha256 of every file Hivemind writes is recorded in the sync state
  (``<home>/sync-state.json``: ``files``, ``deleted``, ``conflicts``). A file whose bytes
  no longer match it, or one Hivemind never wrote, is *the user's*: never overwritten or
  deleted, reported as a conflict. A file that already holds exactly the wanted bytes is
  adopted (recorded), whoever wrote it.
* A file the user deleted is not recreated for the version it had; a newer version is.
* A tombstone, a held-out skill, or (``complete``) a skill Hivemind wrote that the set no
  longer holds removes ``SKILL.md`` and then its directory if it is empty.
* **No symlink is followed** below the directory's anchor (the project for
  ``<project>/.claude/skills``, ``~/.claude`` for the user's): every component is opened
  with ``O_NOFOLLOW`` relative to its parent's descriptor; a symlink or a FIFO on the way
  is refused (:class:`UnsafePath`), never read, written or removed through.

The vetted set (*entries*) maps a skill name to ``None`` (a tombstone) or a dict:
``{"version", "cohort": "present", "content", "sha256"}`` (this exact text belongs on
disk), ``{"version", "cohort": "held_out"}`` (the agent's holdout: not on disk), or
``{"version", "skip": reason}`` (invalid or refused by the guards: disk left as it is).
Vetting (names, workspaces, guards, holdout, rendering) happens in the sync, which also
writes the set to the cache the pull reads (:mod:`hivemind_kafka.producers.hook.skill_pull`).

Imports only ``os``, ``errno``, ``stat`` and :mod:`hivemind_kafka.producers.private`: the capture hook
imports it at SessionStart. sha256 comes from the C module ``hashlib`` wraps, loaded only
when a file on disk differs from the one wanted.
"""

from __future__ import annotations

import errno
import os
import stat
import time

SKILL_FILE = "SKILL.md"
MAX_SKILL_FILE_BYTES = 16 * 1024 * 1024
MAX_NAME_LEN = 64  # schemas.skills.MAX_NAME_LEN
PRESENT, HELD_OUT = "present", "held_out"
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


def is_valid_name(name: object) -> bool:
    """``schemas.skills.is_valid_skill_name`` without ``re``: 1-64 of ``[a-z0-9-]``, no
    leading, trailing or doubled hyphen (a path is only ever built from such a name)."""
    return (isinstance(name, str) and 0 < len(name) <= MAX_NAME_LEN
            and not (set(name) - _NAME_CHARS) and name[0] != "-" and name[-1] != "-"
            and "--" not in name)


def content_hash(data: bytes) -> str:
    """The sha256 hex digest of ``data`` (what the sync state records)."""
    try:
        from _sha2 import sha256  # type: ignore[import-not-found]  # Python >= 3.12
    except ImportError:
        try:
            from _sha256 import sha256  # type: ignore[import-not-found,no-redef]
        except ImportError:  # pragma: no cover - an interpreter without the C module
            from hashlib import sha256  # type: ignore[assignment]
    return sha256(data).hexdigest()


class UnsafePath(Exception):
    """A path component under a skills directory's anchor is a symlink, or not the
    directory/regular file expected there; nothing is done through it."""

    def __init__(self, path: str, reason: str) -> None:
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

    def __init__(self, path: str | os.PathLike[str],
                 anchor: str | os.PathLike[str] | None = None) -> None:
        self.path = os.fspath(path)
        self.anchor = os.fspath(anchor) if anchor is not None else os.path.dirname(self.path)
        self.parts = _parts_below(self.path, self.anchor)
        self._holding = False
        self._base_fd: int | None = None

    def __enter__(self) -> SkillsDir:
        """Hold the skills directory's descriptor (reached once, with the same
        ``O_NOFOLLOW`` walk) for the calls inside the block: a pass over many skills
        opens each skill's directory relative to it instead of walking from the anchor
        every time."""
        self._holding = True
        return self

    def __exit__(self, *exc: object) -> None:
        self._holding = False
        if self._base_fd is not None:
            os.close(self._base_fd)
            self._base_fd = None

    def _skill_dir(self, name: str, *, create: bool) -> int | None:
        """A new descriptor of ``<name>/`` (the caller closes it), or None if absent."""
        if not self._holding:
            return self._open_dirs((*self.parts, name), create=create)
        if self._base_fd is None:
            self._base_fd = self._open_dirs(self.parts, create=create)
            if self._base_fd is None:
                return None
        path = os.path.join(self.path, name)
        fd = self._open_dir_at(self._base_fd, name, path)
        if fd is None and create:
            try:  # noqa: SIM105
                os.mkdir(name, 0o777, dir_fd=self._base_fd)
            except FileExistsError:
                pass
            fd = self._open_dir_at(self._base_fd, name, path)
            if fd is None:
                raise UnsafePath(path, "vanished while being created")
        return fd

    def read(self, name: str) -> bytes | None:
        """``<name>/SKILL.md``'s bytes; ``None`` when it (or a directory above) is absent."""
        where = os.path.join(self.path, name, SKILL_FILE)
        fd = self._skill_dir(name, create=False)
        if fd is None:
            return None
        try:
            try:
                file_fd = os.open(SKILL_FILE, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
                                  | os.O_CLOEXEC, dir_fd=fd)
            except FileNotFoundError:
                return None
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise UnsafePath(where, "is a symlink") from None
                raise
        finally:
            os.close(fd)
        try:
            st = os.fstat(file_fd)
            if not stat.S_ISREG(st.st_mode):
                raise UnsafePath(where, "not a regular file")
            if st.st_size > MAX_SKILL_FILE_BYTES:
                raise UnsafePath(where, f"larger than {MAX_SKILL_FILE_BYTES} bytes")
            chunks = []
            while chunk := os.read(file_fd, 1 << 20):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(file_fd)

    def write(self, name: str, data: bytes) -> None:
        """Replace ``<name>/SKILL.md`` atomically (temp file + rename in its directory),
        creating the directories; a symlink on the way is refused, never written."""
        staged = self.stage(name, data)
        try:
            staged.sync()
        except BaseException:
            staged.discard()
            raise
        staged.commit()

    def stage(self, name: str, data: bytes) -> Staged:
        """Write ``data`` to a temp file in ``<name>/`` (creating the directories; a
        symlink on the way is refused) and return it, to be fsynced and renamed over
        ``SKILL.md`` by the caller (:class:`Staged`): fsyncing several staged files one
        after another costs one journal commit, not one each."""
        fd = self._skill_dir(name, create=True)
        assert fd is not None
        tmp = f".{SKILL_FILE}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        try:
            file_fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                              | os.O_CLOEXEC, 0o600, dir_fd=fd)
        except BaseException:
            os.close(fd)
            raise
        staged = Staged(fd, file_fd, tmp)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(file_fd, view):]
        except BaseException:
            staged.discard()
            raise
        return staged

    def remove(self, name: str) -> None:
        """Delete ``<name>/SKILL.md`` (the entry itself), then ``<name>`` if empty."""
        parent = self._open_dirs(self.parts, create=False)
        if parent is None:
            return
        try:
            fd = self._open_dir_at(parent, name, os.path.join(self.path, name))
            if fd is None:
                return
            try:
                try:  # noqa: SIM105
                    os.unlink(SKILL_FILE, dir_fd=fd)
                except FileNotFoundError:
                    pass
            finally:
                os.close(fd)
            try:  # noqa: SIM105
                os.rmdir(name, dir_fd=parent)
            except OSError:  # not empty: the user put files there
                pass
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
            os.makedirs(self.anchor, exist_ok=True)  # the anchor is trusted
            fd = os.open(self.anchor, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        path = self.anchor
        try:
            for part in parts:
                path = os.path.join(path, part)
                nxt = self._open_dir_at(fd, part, path)
                if nxt is None:
                    if not create:
                        return None
                    try:  # noqa: SIM105
                        os.mkdir(part, 0o777, dir_fd=fd)
                    except FileExistsError:
                        pass
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

    @staticmethod
    def _open_dir_at(fd: int, part: str, path: str) -> int | None:
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


class Staged:
    """A fully written temp file beside a ``SKILL.md``: :meth:`sync` (fsync), then
    :meth:`commit` (rename over ``SKILL.md``: readers see the old or the new file) or
    :meth:`discard` (remove it). Either closes its descriptors."""

    __slots__ = ("dir_fd", "file_fd", "tmp")

    def __init__(self, dir_fd: int, file_fd: int, tmp: str) -> None:
        self.dir_fd, self.file_fd, self.tmp = dir_fd, file_fd, tmp

    def sync(self) -> None:
        os.fsync(self.file_fd)

    def commit(self) -> None:
        try:
            os.close(self.file_fd)
            self.file_fd = -1
            # rename never follows a symlink at the destination: it replaces the entry
            os.replace(self.tmp, SKILL_FILE, src_dir_fd=self.dir_fd, dst_dir_fd=self.dir_fd)
        except BaseException:
            self.discard()
            raise
        os.close(self.dir_fd)
        self.dir_fd = -1

    def discard(self) -> None:
        if self.file_fd >= 0:
            os.close(self.file_fd)
            self.file_fd = -1
        if self.dir_fd >= 0:
            try:  # noqa: SIM105 - contextlib is not imported on the hook path
                os.unlink(self.tmp, dir_fd=self.dir_fd)
            except OSError:
                pass
            os.close(self.dir_fd)
            self.dir_fd = -1


def _parts_below(path: str, anchor: str) -> tuple[str, ...]:
    """The components of ``path`` below ``anchor`` (lexically, as ``Path.relative_to``:
    empty and ``.`` components dropped); ``ValueError`` when ``path`` is not under
    ``anchor`` or a component is ``..``."""
    def split(p: str) -> list[str]:
        return [c for c in p.split(os.sep) if c not in ("", ".")]

    head, rest = split(anchor), split(path)
    absolute = path.startswith(os.sep)
    if absolute != anchor.startswith(os.sep) or rest[:len(head)] != head:
        raise ValueError(f"{path} is not under its anchor {anchor}")
    parts = tuple(rest[len(head):])
    if ".." in parts:
        raise ValueError(f"{path}: '.' or '..' below the anchor {anchor}")
    return parts


class Applied:
    """What :func:`materialize` did in one skills directory: names per action, and
    ``conflicts`` / ``new_conflicts`` as ``(path, name, version, reason)``, ``refused``
    as ``(path, name, reason)`` (``name`` ``"*"``: the whole directory)."""

    __slots__ = (
        "conflicts",
        "created",
        "deferred",
        "invalid",
        "kept_deleted",
        "new_conflicts",
        "present",
        "refused",
        "removed",
        "unchanged",
        "updated",
    )

    def __init__(self) -> None:
        self.created: list[str] = []
        self.deferred: list[str] = []  # writes left for the next pass (``max_writes``)
        self.updated: list[str] = []
        self.removed: list[str] = []
        self.unchanged: list[str] = []
        self.kept_deleted: list[str] = []
        self.invalid: list[str] = []
        self.conflicts: list[tuple[str, str, int | None, str]] = []
        self.new_conflicts: list[tuple[str, str, int | None, str]] = []
        self.refused: list[tuple[str, str, str]] = []
        # name -> version of the skills now on disk exactly as wanted (created, updated
        # or unchanged): the session's "present" cohort
        self.present: dict[str, int] = {}


def materialize(entries, skills_dir: str | os.PathLike[str], state, *, complete: bool,
                anchor: str | os.PathLike[str] | None = None, now: str = "",
                durable: bool = True, max_writes: int | None = None) -> Applied:
    """Bring ``skills_dir`` in line with ``entries`` (see the module docstring) under the
    rules above. ``complete``: ``entries`` is the workspace's whole set, so a skill
    Hivemind wrote here that it does not hold was retired and is removed too.
    ``state`` has ``files``, ``deleted`` and ``conflicts`` dicts (``SyncState`` or
    :class:`StateFile`), updated in memory; the caller saves it. ``now``: the ISO time a
    new conflict is stamped with (default: the current UTC time). ``durable``: fsync each
    file before its rename (the sync); the SessionStart pull skips it to stay within the
    hook's budget, which a power cut can only turn into an empty (or NUL-filled) file, and
    such a file is rewritten, never taken for the user's (it holds nothing of anyone's).
    ``max_writes``: write (create or update) at most that many files, in name order; the
    rest are left as they are, unrecorded, and named in ``deferred``, so the next pass
    decides them afresh (the pull bounds the hook's time this way). Removals are not
    bounded: they cost an unlink each.
    Never raises :class:`UnsafePath`: it is reported."""
    applied = Applied()
    now = now or time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    skills_dir = os.fspath(skills_dir)
    fs = SkillsDir(skills_dir, anchor)
    try:
        fs.check()
    except UnsafePath as exc:
        applied.refused.append((exc.path, "*", exc.reason))
        return applied
    wanted = dict(entries)
    if complete:
        prefix = skills_dir + os.sep
        for key, entry in state.files.items():
            if key.startswith(prefix) and isinstance(entry, dict):
                wanted.setdefault(entry.get("name"), None)
    writes: list[_Write] = []
    todo: list[tuple[str, bytes | None, str | None, int | None]] = []
    for name in sorted(n for n in wanted if isinstance(n, str)):
        entry = wanted[name]
        if isinstance(entry, dict) and entry.get("skip"):
            continue  # vetting refused it: disk stays as it is
        if not is_valid_name(name):
            applied.invalid.append(name)  # never build a path from an invalid name
            continue
        desired = digest = version = None
        if isinstance(entry, dict) and entry.get("cohort") == PRESENT:
            desired = entry["content"].encode("utf-8")
            digest = entry.get("sha256") or content_hash(desired)
            version = entry["version"]
        todo.append((name, desired, digest, version))
    with fs:  # one walk to the skills directory for the whole pass
        for name, desired, digest, version in todo:
            try:
                _apply_one(name, desired, digest, version, fs,
                           os.path.join(skills_dir, name, SKILL_FILE), state, applied, now,
                           writes)
            except UnsafePath as exc:
                applied.refused.append((exc.path, name, exc.reason))
        if max_writes is not None and len(writes) > max_writes:
            applied.deferred = [w.name for w in writes[max_writes:]]
            writes = writes[:max_writes]
        _write_all(writes, fs, state, applied, durable=durable)
    return applied


class _Write:
    """A create or update :func:`_apply_one` decided on, done by :func:`_write_all`."""

    __slots__ = ("action", "data", "digest", "key", "name", "staged", "version")

    def __init__(self, action: str, name: str, key: str, data: bytes, digest: str | None,
                 version: int | None) -> None:
        self.action, self.name, self.key, self.data = action, name, key, data
        self.digest, self.version = digest, version
        self.staged: Staged | None = None


def _write_all(writes: list[_Write], fs: SkillsDir, state, applied: Applied, *,
               durable: bool) -> None:
    """Stage every file, fsync them one after another (``durable``; back to back they
    cost about one journal commit), then rename each over its ``SKILL.md`` and record
    it. A refused path is reported and skipped; on any other error the staged temp files
    are removed and it propagates."""
    try:
        for w in writes:
            try:
                w.staged = fs.stage(w.name, w.data)
            except UnsafePath as exc:
                applied.refused.append((exc.path, w.name, exc.reason))
        for w in writes:
            if w.staged is not None and durable:
                w.staged.sync()
        for w in writes:
            if w.staged is None:
                continue
            staged, w.staged = w.staged, None
            staged.commit()
            _record(state, w.key, w.name, w.version, w.digest)
            getattr(applied, w.action).append(w.name)
            applied.present[w.name] = w.version  # type: ignore[assignment]
    finally:
        for w in writes:
            if w.staged is not None:
                w.staged.discard()


def _apply_one(name: str, desired: bytes | None, digest: str | None, version: int | None,
               fs: SkillsDir, key: str, state, applied: Applied, now: str,
               writes: list[_Write]) -> None:
    recorded = state.files.get(key)
    current = fs.read(name)
    if current is not None and not current.strip(b"\0"):
        # Empty or NUL-filled: a write a power cut caught before its data reached the
        # disk (the pull does not fsync), or a placeholder; nobody's content either way.
        state.conflicts.pop(key, None)
        if desired is None:
            _remove(fs, state, key, name, applied)
        else:
            writes.append(_Write("updated", name, key, desired, digest, version))
        return

    if current is None:
        state.conflicts.pop(key, None)
        if desired is None:
            state.files.pop(key, None)
            return
        if recorded is not None and state.deleted.get(key) == version:
            applied.kept_deleted.append(name)
            return
        if recorded is not None and version is not None and recorded.get("version") == version:
            # The user deleted the file Hivemind wrote: respect it for this version.
            state.deleted[key] = version
            applied.kept_deleted.append(name)
            return
        writes.append(_Write("created", name, key, desired, digest, version))
        return

    if desired is not None and current == desired:
        _record(state, key, name, version, digest)
        state.conflicts.pop(key, None)
        applied.unchanged.append(name)
        applied.present[name] = version  # type: ignore[assignment]
        return
    if recorded is None or recorded.get("hash") != content_hash(current):
        conflict = (key, name, version, "edited" if recorded else "not_written_by_hivemind")
        applied.conflicts.append(conflict)
        previous = state.conflicts.get(key)
        if previous is None or previous.get("version") != version:
            applied.new_conflicts.append(conflict)
        state.conflicts[key] = {"name": name, "version": version, "reason": conflict[3],
                                "since": (previous or {}).get("since") or now}
        return
    state.conflicts.pop(key, None)
    if desired is None:
        _remove(fs, state, key, name, applied)
        return
    writes.append(_Write("updated", name, key, desired, digest, version))


def _remove(fs: SkillsDir, state, key: str, name: str, applied: Applied) -> None:
    """Remove Hivemind's file of ``name`` and forget it (retired, or held out)."""
    fs.remove(name)
    state.files.pop(key, None)
    state.deleted.pop(key, None)
    applied.removed.append(name)


def _record(state, key: str, name: str, version: int | None, digest: str | None) -> None:
    entry = {"hash": digest, "name": name, "version": version}
    if state.files.get(key) != entry:
        state.files[key] = entry
    state.deleted.pop(key, None)


def scope_on_disk(entries, skills_dir: str | os.PathLike[str], state, *,
                  anchor: str | os.PathLike[str] | None = None) -> list[dict] | None:
    """``[{"name", "version", "cohort"}]`` of what an agent starting now in
    ``skills_dir`` has, sorted by name: ``present`` with the version of each Hivemind
    file on disk (the vetted content of ``entries``, or a file whose bytes match what the
    sync state recorded writing there, e.g. an older version not yet replaced), and
    ``held_out`` for each skill the vetted set holds out that is not on disk. A file the
    user edited or wrote is in neither. ``None`` when the directory is refused."""
    skills_dir = os.fspath(skills_dir)
    fs = SkillsDir(skills_dir, anchor)
    try:
        fs.check()
    except UnsafePath:
        return None
    prefix = skills_dir + os.sep
    recorded: dict[str, tuple[str, dict]] = {
        e["name"]: (k, e) for k, e in state.files.items()
        if k.startswith(prefix) and isinstance(e, dict) and isinstance(e.get("name"), str)}
    names: set[str] = {n for n, e in entries.items() if isinstance(e, dict) and e.get("cohort")}
    scope = []
    with fs:
        on_disk = {}
        for name in sorted(n for n in names | set(recorded) if is_valid_name(n)):
            try:
                on_disk[name] = fs.read(name)
            except UnsafePath:
                continue
    for name, data in on_disk.items():
        entry = entries.get(name) if isinstance(entries.get(name), dict) else {}
        if data is None:
            if entry.get("cohort") == HELD_OUT:
                scope.append({"name": name, "version": entry["version"], "cohort": HELD_OUT})
            continue
        if entry.get("cohort") == PRESENT and data == entry["content"].encode("utf-8"):
            scope.append({"name": name, "version": entry["version"], "cohort": PRESENT})
            continue
        key, record = recorded.get(name, ("", {}))
        if key == os.path.join(skills_dir, name, SKILL_FILE) \
                and content_hash(data) == record.get("hash") \
                and isinstance(record.get("version"), int):
            scope.append({"name": name, "version": record["version"], "cohort": PRESENT})
    return scope


STATE_FILE = "sync-state.json"


class StateFile:
    """``<home>/sync-state.json`` read and written with the standard library: the same
    layout as ``producers.sync.skill_files.SyncState`` (``files``, ``deleted``, ``conflicts``,
    ``last_sync``, ``live``), every key it does not touch kept as it was."""

    def __init__(self, path: str, data: dict) -> None:
        self.path = path
        self.data = data
        self.files: dict = _dict_at(data, "files")
        self.deleted: dict = _dict_at(data, "deleted")
        self.conflicts: dict = _dict_at(data, "conflicts")

    @classmethod
    def load(cls, home: str) -> StateFile | None:
        """The state of ``home``; an empty one when there is none yet, ``None`` when the
        file is unreadable (then nothing should be written on its account)."""
        from hivemind_kafka.producers.hook import jsonlite

        path = os.path.join(home, STATE_FILE)
        try:
            with open(path, "rb") as f:
                data = jsonlite.loads(f.read())
        except FileNotFoundError:
            return cls(path, {})
        except (OSError, ValueError, RecursionError):
            return None
        return cls(path, data) if isinstance(data, dict) else None

    def snapshot(self) -> str:
        """The rule-relevant part as text, to tell whether a pass changed anything."""
        from hivemind_kafka.producers.hook import jsonlite

        return jsonlite.dumps([self.files, self.deleted, self.conflicts])

    def save(self) -> None:
        """Atomically (readers see the old or the new file), without fsync: on the hook
        path one fsync waits for the journal commit of every file just written. The sync
        that agentd runs for the same session start moments later saves the state again
        durably (``SyncState.save``); a power cut before that can lose only this pass's
        records, and the next sync adopts any file that holds exactly what it wants."""
        from hivemind_kafka.producers import private
        from hivemind_kafka.producers.hook import jsonlite

        private.write_atomic(self.path, jsonlite.dumps(self.data).encode(), fsync=False)


def _dict_at(data: dict, key: str) -> dict:
    value = data.get(key)
    if not isinstance(value, dict):
        value = data[key] = {}
    return value

"""Private files: what Hivemind keeps under its home is readable by its owner only.

The home holds captured prompts and tool output (the spool, logs), the saved copy of
Claude Code settings (which can hold API keys) and the install config. Guarantees:

- **Created private, whatever the umask.** Directories are created 0700 one component
  at a time (``os.makedirs`` gives intermediate directories the default mode, so a home
  created as a side effect of ``<home>/spool`` would be 0755); files are created 0600
  with ``os.open``. A umask can only remove bits, so nothing is ever wider than that.
- **Existing ones tightened.** :func:`tighten` (run by ``hivemind install``) brings a
  home created by an older version to 0700/0600 without following symlinks and without
  touching files owned by someone else.

Imports only ``os`` and ``stat``: the capture hook uses it.
"""

from __future__ import annotations

import os
import stat

DIR_MODE = 0o700
FILE_MODE = 0o600


def makedirs(path: str | os.PathLike[str]) -> None:
    """Create ``path`` and its missing parents, each one 0700; existing ones are left
    as they are. Raises :class:`OSError` like :func:`os.makedirs` (``FileExistsError``
    when a component is a file)."""
    path = os.path.abspath(os.fspath(path))
    try:
        os.mkdir(path, DIR_MODE)
        return
    except FileExistsError:
        if os.path.isdir(path):
            return
        raise
    except FileNotFoundError:
        parent = os.path.dirname(path)
        if parent == path:
            raise
        makedirs(parent)
    try:
        os.mkdir(path, DIR_MODE)
    except FileExistsError:
        if not os.path.isdir(path):
            raise


def open_file(path: str | os.PathLike[str], flags: int) -> int:
    """``os.open(path, flags | O_CREAT | O_CLOEXEC, 0600)``, creating the parent
    directories (0700) when they are missing."""
    flags |= os.O_CREAT | os.O_CLOEXEC
    try:
        return os.open(path, flags, FILE_MODE)
    except FileNotFoundError:
        makedirs(os.path.dirname(os.path.abspath(os.fspath(path))))
        return os.open(path, flags, FILE_MODE)


def write_atomic(path: str | os.PathLike[str], data: bytes, *, fsync: bool = True,
                 mode: int = FILE_MODE) -> None:
    """Replace ``path`` with ``data``: a unique temp file beside it (created 0600 with
    ``O_EXCL``, so never through a symlink), then rename, so readers see the old or the
    new bytes, never a mix; a symlink at ``path`` is replaced, not followed. ``mode``
    other than 0600 is for a file that is the user's (Claude Code settings): the caller
    passes its current mode. The one temp-then-rename writer of the project."""
    path = os.fspath(path)
    tmp = f"{path}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    fd = open_file(tmp, os.O_WRONLY | os.O_EXCL)
    try:
        try:
            if mode != FILE_MODE:
                os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:  # noqa: SIM105 - contextlib is not imported on the hook path
            os.unlink(tmp)
        except OSError:
            pass
        raise


def tighten(root: str | os.PathLike[str]) -> int:
    """Make ``root`` and everything under it owned by this user 0700 (directories) or
    0600 (files), never following a symlink; returns how many modes changed. Missing
    ``root``: 0."""
    root = os.fspath(root)
    uid = os.geteuid()
    changed = 0

    def fix(path: str, st: os.stat_result) -> None:
        nonlocal changed
        if st.st_uid != uid or stat.S_ISLNK(st.st_mode):
            return
        want = DIR_MODE if stat.S_ISDIR(st.st_mode) else FILE_MODE
        if stat.S_IMODE(st.st_mode) & ~want:
            os.chmod(path, stat.S_IMODE(st.st_mode) & want, follow_symlinks=False)
            changed += 1

    try:
        fix(root, os.lstat(root))
    except FileNotFoundError:
        return 0
    if not os.path.isdir(root) or os.path.islink(root):
        return changed
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            try:
                fix(path, os.lstat(path))
            except FileNotFoundError:
                continue
    return changed

"""One agentd per machine: the lock, its pid, and starting it detached from a hook.

Guarantee: at most one agentd runs per Hivemind home. It holds an exclusive
``fcntl.flock`` on ``<home>/agentd.lock`` for its whole life (the kernel drops the lock
when the process dies, however it dies, so a crash never leaves a stale lock) and writes
its pid inside. :func:`ensure_running` is what the SessionStart hook calls: a
non-blocking lock probe (microseconds) and, when nobody holds the lock, a detached
``python -P -m hivemind_kafka.producers.agentd.daemon --home <home>`` in its own session with output to
``<home>/logs/agentd.log``. Two hooks racing both spawn; the loser finds the lock taken
and exits 0.

Imports only the standard library's C-level modules (os, fcntl, sys): it runs on the
hook path.
"""

from __future__ import annotations

import fcntl
import os
import sys

from hivemind_kafka.producers import private

LOCK_NAME = "agentd.lock"
LOG_NAME = os.path.join("logs", "agentd.log")


def lock_path(home: str | os.PathLike[str]) -> str:
    return os.path.join(os.fspath(home), LOCK_NAME)


def running_pid(home: str | os.PathLike[str]) -> int | None:
    """The pid of the agentd holding the lock (0 if unreadable), None if none runs."""
    try:
        fd = os.open(lock_path(home), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raw = os.pread(fd, 32, 0).strip()
            return int(raw) if raw.isdigit() else 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def acquire(home: str | os.PathLike[str]) -> int | None:
    """Take the agentd lock and write our pid; returns the fd to keep open for life,
    or None when another agentd holds it."""
    fd = private.open_file(lock_path(home), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def release(fd: int) -> None:
    try:
        os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # drops the flock


def ensure_running(home: str | os.PathLike[str], *, python: str | None = None,
                   extra_args: list[str] | None = None) -> bool:
    """Start agentd detached unless one is running. True when this call started one.

    Never raises for a failed start (the hook must not fail): returns False and the
    spool keeps the events until agentd runs.
    """
    home = os.fspath(home)
    if running_pid(home) is not None:
        return False
    try:
        private.makedirs(os.path.join(home, "logs"))
        log = os.path.join(home, LOG_NAME)
        # -P: the hook's cwd is the user's project; a ``producers/`` or ``runtime/`` package
        # there must not shadow ours.
        argv = [python or sys.executable, "-P", "-m", "hivemind_kafka.producers.agentd.daemon", "--home", home,
                *(extra_args or [])]
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ]
        # The child inherits the caller's environment (HIVEMIND_* settings, PATH).
        os.posix_spawn(argv[0], argv, os.environ, file_actions=actions, setsid=True)
    except OSError:
        return False
    return True

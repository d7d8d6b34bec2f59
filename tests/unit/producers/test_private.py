"""private.write_atomic: the one temp-file-then-rename writer."""

from __future__ import annotations

import os
import stat

import pytest

from hivemind_kafka.producers import private


def mode_of(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_new_file_is_private_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        private.write_atomic(tmp_path / "a" / "b.json", b"{}")
    finally:
        os.umask(old)
    assert (tmp_path / "a" / "b.json").read_bytes() == b"{}"
    assert mode_of(tmp_path / "a" / "b.json") == 0o600
    assert mode_of(tmp_path / "a") == 0o700


def test_an_explicit_mode_is_kept_for_a_users_file(tmp_path):
    path = tmp_path / "settings.json"
    path.write_bytes(b"old")
    os.chmod(path, 0o644)
    private.write_atomic(path, b"new", mode=0o644)
    assert path.read_bytes() == b"new" and mode_of(path) == 0o644


def test_a_failed_write_leaves_the_old_bytes_and_no_temp_file(tmp_path):
    path = tmp_path / "state.json"
    path.write_bytes(b"old")
    with pytest.raises(TypeError):
        private.write_atomic(path, "not bytes")  # type: ignore[arg-type]
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_a_symlink_in_place_of_the_file_is_replaced_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.write_bytes(b"keep")
    link = tmp_path / "state.json"
    link.symlink_to(outside)
    private.write_atomic(link, b"new")
    assert outside.read_bytes() == b"keep"
    assert not link.is_symlink() and link.read_bytes() == b"new"

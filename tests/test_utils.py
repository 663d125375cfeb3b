"""Atomic writes: readers see the old file or the new one, with the mode a plain open() gives."""

from __future__ import annotations

import os
import stat

import pytest

from bnnlib.utils import atomic_write_bytes, read_json, write_json


def test_atomic_write_has_open_mode_and_replaces(tmp_path):
    plain = tmp_path / "plain"
    plain.write_bytes(b"x")
    path = write_json(tmp_path / "metrics.json", {"a": 1})
    assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
    write_json(path, {"a": 2})
    assert read_json(path) == {"a": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json", "plain"]


def test_failed_write_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = atomic_write_bytes(tmp_path / "f", b"old")

    def broken_fsync(fd):
        raise OSError("disk full (test)")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["f"]

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


def test_chunks_are_written_in_order_and_checkpoints_round_trip(tmp_path):
    """A header and a payload are written as chunks (no joined copy of a large run state); a
    checksummed file reads back equal, and one altered byte of the payload is refused."""
    import torch

    from bnnlib.utils import CorruptFileError, load_checksummed, save_checksummed

    path = atomic_write_bytes(tmp_path / "f", (b"head\n", memoryview(b"payload"), bytearray(b"!")))
    assert path.read_bytes() == b"head\npayload!"
    state = {"w": torch.arange(1000, dtype=torch.float32), "step": 7}
    saved = save_checksummed(state, tmp_path / "last.pt")
    back = load_checksummed(saved)
    assert back["step"] == 7 and torch.equal(back["w"], state["w"])
    raw = bytearray(saved.read_bytes())
    raw[-10] ^= 0xFF
    saved.write_bytes(bytes(raw))
    with pytest.raises(CorruptFileError, match="corrupt or partially written"):
        load_checksummed(saved)
    saved.write_bytes(b"short")
    with pytest.raises(CorruptFileError, match="is not a bnnlib checkpoint .*5 bytes"):
        load_checksummed(saved)

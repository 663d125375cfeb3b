"""The benchmark scripts run end to end on tiny settings and time the profile's model sizes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import bench_supernet  # noqa: E402
import bench_train  # noqa: E402
from sizes import profile_kwargs  # noqa: E402


def test_profile_kwargs_reads_the_profiles():
    assert profile_kwargs("vgg_small", "cpu") == {"width_mult": 0.0625}
    assert profile_kwargs("resnet18", "cpu") == {"width_mult": 0.0625, "small_input": True}
    assert profile_kwargs("resnet18", "smoke")["small_input"] is False
    assert profile_kwargs("mobilenet_m2", "cpu") == {"width_mult": 0.5, "small_input": False}
    assert profile_kwargs("mobilenet_m1", "paper")["width_mult"] == 1.0


def test_profile_kwargs_bad_input():
    with pytest.raises(ValueError, match=r"unknown profile 'gpu'.*'cpu'.*'paper'.*'smoke'"):
        profile_kwargs("vgg_small", "gpu")
    with pytest.raises(ValueError, match=r"family 'alexnet' is not in profile 'cpu'.*mobilenet_m1"):
        profile_kwargs("alexnet", "cpu")


def test_bench_train_runs(tmp_path):
    out = tmp_path / "train.json"
    rows = bench_train.main(["--models", "vgg_small", "mobilenet_m3", "--batch-size", "8",
                             "--steps", "1", "--rounds", "1", "--warmup", "1",
                             "--json", str(out)])
    assert [r["model"] for r in rows] == ["vgg_small", "mobilenet_m3"]
    assert rows[0]["kwargs"]["width_mult"] == 0.0625 and rows[0]["kwargs"]["expansion"] == 4.0
    assert all(r["binary_ms"] > 0 and r["real_ms"] > 0 and r["ratio"] > 0 for r in rows)
    assert json.loads(out.read_text())["rows"] == rows  # the file holds what was printed


def test_bench_supernet_runs(tmp_path):
    out = tmp_path / "supernet.json"
    rows = bench_supernet.main(["--families", "mobilenet_m1", "vgg_small", "--genomes", "1",
                                "--steps", "1", "--batch", "8", "--calib", "16", "--val", "16",
                                "--evals", "1", "--json", str(out)])
    assert [r["family"] for r in rows] == ["mobilenet_m1", "vgg_small"]
    for r in rows:
        assert r["supernet_step_ms"] > 0 and r["static_step_ms"] > 0
        assert r["evaluations_per_min"] > 0
    assert out.exists()

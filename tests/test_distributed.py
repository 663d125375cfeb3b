"""Data-parallel training: 2 CPU processes (gloo, started by torchrun) against one process.

One torchrun run (``tests/ddp_worker.py``) trains every case of ``tests/ddp_cases.py`` in 2
processes; each test builds the same case in this process and compares, in float64 (see
ddp_cases on why). Tolerances are round-off: BN statistics and gradients are summed in another order.
"""

import json
import shutil
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ddp_cases  # noqa: E402

from bnnlib import distributed as dist  # noqa: E402
from bnnlib.dynamic import DynamicBatchNorm2d  # noqa: E402

WORKER = Path(__file__).resolve().parent / "ddp_worker.py"


@pytest.fixture(scope="module")
def ddp(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    dist.launch(str(WORKER), [str(out)], nproc=2)
    return out, torch.load(out / "ddp.pt", weights_only=False)


def _assert_same_run(got: dict, want: dict, atol: float = 1e-9) -> None:
    """Same weights to ``atol``; same metrics to 1e-6 (``evaluate`` sums losses of float32
    logits, whatever the model's dtype)."""
    assert len(got["history"]) == len(want["history"])
    for row_got, row_want in zip(got["history"], want["history"], strict=True):
        assert row_got.keys() == row_want.keys()
        for key in row_want:
            assert row_got[key] == pytest.approx(row_want[key], abs=1e-6), key
    assert got["state"].keys() == want["state"].keys()
    for key, value in want["state"].items():
        if value.is_floating_point():
            torch.testing.assert_close(got["state"][key], value, atol=atol, rtol=1e-9, msg=key)
        else:
            assert torch.equal(got["state"][key], value), key


def test_ddp_runs_in_two_processes(ddp):
    assert ddp[1]["world_size"] == 2


@pytest.mark.parametrize("case", ["static", "real_adam", "binary_step"])
def test_ddp_fit_equals_one_process(ddp, tmp_path, case):
    """Weights and every metric of 2 epochs, uneven last batch and validation shards."""
    want = ddp_cases.CASES[case](tmp_path)
    _assert_same_run(ddp[1][case], want)
    if len(want["history"]) > 1:  # it trained
        assert want["history"][-1]["train_loss"] != want["history"][0]["train_loss"]


@pytest.mark.parametrize("case", ["groups_supernet", "widths_supernet"])
def test_ddp_supernet_with_random_genomes_equals_one_process(ddp, tmp_path, case):
    """Every rank draws the step's genome; dynamic (sliced) BN is synchronised too."""
    _assert_same_run(ddp[1][case], getattr(ddp_cases, case)(tmp_path))


def test_ddp_checkpoint_resumes_in_one_process(ddp, tmp_path):
    """A 2-process run stopped after epoch 1 of 2, resumed by one process, ends like an
    uninterrupted one-process run (rank 0 wrote the checkpoint; its metrics are global)."""
    folder = tmp_path / "resumed"
    shutil.copytree(ddp[0] / "interrupted", folder)
    assert len(ddp[1]["interrupted"]["history"]) == 1
    resumed = ddp_cases.static_model(folder)
    want = ddp_cases.static_model(tmp_path / "fresh")
    _assert_same_run(resumed, want)


def test_ddp_search_split_over_ranks_equals_one_process(ddp, tmp_path):
    got = ddp[1]["search"]
    want = ddp_cases.search(tmp_path)
    assert got["genomes"] == want["genomes"]
    assert got["best"] == want["best"]
    assert got["fitness"] == pytest.approx(want["fitness"], abs=1e-5)
    # rank 0 alone wrote the log: one line per evaluation
    lines = (ddp[0] / "search" / "log.jsonl").read_text().splitlines()
    assert len(lines) == len(want["genomes"])


# --------------------------------------------------------------------------------------------
# The pieces, in one process


def test_shard_gives_contiguous_near_equal_chunks():
    items = list(range(11))
    chunks = [dist.shard(items, r, 3) for r in range(3)]
    assert chunks == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10]]
    assert [dist.shard([5], r, 2) for r in range(2)] == [[5], []]
    with pytest.raises(ValueError, match="part 3 is not in 0..2"):
        dist.shard(items, 3, 3)


def test_one_process_defaults():
    assert not dist.is_distributed() and dist.rank() == 0 and dist.world_size() == 1
    assert dist.split_work([1, 2, 3], lambda v: v * 10) == [10, 20, 30]
    assert dist.all_gather_objects("x") == ["x"]
    assert dist.all_reduce_sum([1.0, 2.0]).tolist() == [1.0, 2.0]


def test_process_count_names_valid_values():
    assert dist.process_count(None) == 1
    assert dist.process_count(3) == 3
    assert dist.process_count("auto") == max(1, torch.cuda.device_count())
    for bad in (0, -1, "all", 1.5, True):
        with pytest.raises(ValueError, match="'auto'"):
            dist.process_count(bad)


def test_torchrun_commands():
    one = dist.torchrun_command("bnnlib.stages", ["uniform", "x"], 8)
    assert one[1:] == ["--nproc-per-node=8", "--standalone", "--nnodes=1", "-m", "bnnlib.stages",
                       "uniform", "x"]
    many = dist.torchrun_command("run.py", [], 8, nnodes=2, node_rank=1,
                                 rdzv_endpoint="host:29400")
    assert "--nnodes=2" in many and "--rdzv-endpoint=host:29400" in many
    assert "--node-rank=1" in many and many[-1] == "run.py"
    with pytest.raises(ValueError, match="rdzv_endpoint"):
        dist.torchrun_command("m", [], 8, nnodes=2)


def test_sync_batchnorm_outside_a_group_is_plain_batchnorm():
    """One process: SyncBatchNorm2d computes what BatchNorm2d and the sliced dynamic BN do."""
    torch.manual_seed(0)
    x = torch.randn(6, 4, 5, 5)
    for cls, inp in ((nn.BatchNorm2d, x), (DynamicBatchNorm2d, x[:, :3])):
        plain, synced = cls(4), cls(4)
        synced.__class__ = dist.SyncBatchNorm2d
        torch.testing.assert_close(synced(inp), plain(inp))
        torch.testing.assert_close(synced.running_var, plain.running_var)


# --------------------------------------------------------------------------------------------
# A stage with devices: 2


def test_ddp_stage_with_two_devices_is_one_command(tmp_path, capfd):
    """``uniform.run(cfg)`` with ``devices: 2`` trains under torchrun in 2 processes, then
    reads every item back in this process without training it again (``jobs`` ignored)."""
    from bnnlib import settings
    from bnnlib.stages import uniform

    if not Path("/usr/share/datasets/fashion-mnist").exists():
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    root = Path(__file__).resolve().parents[1]
    shutil.copy(root / "profiles/smoke.yaml", tmp_path / "params.yaml")
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    cfg = settings.view("uniform", "vgg_small", "params.yaml",
                        {"devices": 2, "jobs": 2, "data.val_size": 64, "data.train_subset": 96,
                         "data.test_subset": 50, "widths.families.vgg_small.train.batch_size": 32},
                        root=tmp_path)
    results = uniform.run(cfg)
    out = capfd.readouterr().out
    assert "vgg_small in 2 processes (torchrun)" in out and "reading back" in out
    # jobs does not apply where devices runs DDP, and says so
    assert "jobs: 2 does not apply: devices 2" in out and "at once" not in out
    assert len(results) == 5  # fp and Uniform-1x..4x, one seed each
    for r in results:
        folder = tmp_path / "runs/uniform/vgg_small" / r["variant"] / "seed0"
        on_disk = json.loads((folder / "result.json").read_text())
        assert on_disk["weights"] == r["weights"]
        assert len(r["history"]) == 1
    # the read-back resumed every item at its last epoch: nothing was trained twice
    assert out.count("resumed from") == len(results)

"""Tests of bnnlib.train: metrics, schedules, determinism, exact resume, checkpoints, logging."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from bnnlib.data import InMemoryImages
from bnnlib.train import (
    CheckpointMismatchError,
    Recipe,
    accuracy,
    evaluate,
    fit,
    load_checkpoint,
    lr_at,
    make_loader,
    topk_correct,
)
from bnnlib.utils import CorruptFileError

torch.set_num_threads(1)

TIMING_KEYS = {"seconds", "images_per_s"}


def synthetic_images(n=192, seed=0, augment="flip"):
    """Learnable 1x12x12 images: class c brightens row block c % 3, and all pixels if c >= 3."""
    g = torch.Generator().manual_seed(seed)
    targets = torch.arange(n) % 6
    images = torch.randint(0, 60, (n, 1, 12, 12), generator=g)
    for c in range(6):
        images[targets == c, :, 4 * (c % 3) : 4 * (c % 3) + 4, :] += 150
        images[targets == c] += 40 * (c // 3)
    images = images.clamp(max=255).to(torch.uint8)
    return InMemoryImages(images, targets, (0.3,), (0.3,), augment=augment, pad=2)


class TinyNet(nn.Module):
    """Conv-BN-dropout net: exercises BN buffers and the dropout RNG in resume tests."""

    def __init__(self, width=6, num_classes=6):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2)
        )
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(width * 36, num_classes)

    def forward(self, x):
        return self.fc(self.drop(self.features(x).flatten(1)))


def new_model(width=6, seed=0):
    torch.manual_seed(seed)
    return TinyNet(width)


def without_timing(history):
    return [{k: v for k, v in row.items() if k not in TIMING_KEYS} for row in history]


def assert_same_weights(a: nn.Module, b: nn.Module):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


RECIPE = Recipe(epochs=3, batch_size=32, lr=1e-2)
COMMON = dict(recipe=RECIPE, progress=False)


# ---------------------------------------------------------------------------------------------
# metrics and schedules


def test_topk_on_hand_made_logits():
    logits = torch.tensor(
        [
            [0.9, 0.1, 0.0, 0.0, 0.0, 0.0, 0.0],  # target 0: top-1
            [0.1, 0.9, 0.8, 0.7, 0.6, 0.5, 0.0],  # target 5: rank 5 -> top-5 only
            [0.1, 0.9, 0.8, 0.7, 0.6, 0.5, 0.0],  # target 6: rank 7 -> neither
            [0.0, 0.2, 0.9, 0.0, 0.0, 0.0, 0.1],  # target 1: rank 2 -> top-5 only
        ]
    )
    targets = torch.tensor([0, 5, 6, 1])
    assert topk_correct(logits, targets, (1, 2, 5)) == [1, 2, 3]
    assert accuracy(logits, targets) == [0.25, 0.75]
    # Fewer classes than k: everything is in the "top 5".
    assert topk_correct(logits[:, :3], torch.tensor([0, 1, 2, 1])) == [2, 4]


def test_evaluate_on_fixed_logits():
    logits = torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 5.0], [4.0, 0.0, 0.0]])
    targets = torch.tensor([0, 2, 2, 1])
    result = evaluate(nn.Identity(), TensorDataset(logits, targets), batch_size=3)
    expected_loss = float(nn.functional.cross_entropy(logits, targets))
    assert result["n"] == 4
    assert math.isclose(result["loss"], expected_loss, rel_tol=1e-6)
    assert result["top1"] == 0.5 and result["top5"] == 1.0


def test_evaluate_restores_training_mode():
    model = new_model().train()
    evaluate(model, synthetic_images(n=20), batch_size=8)
    assert model.training
    with pytest.raises(ValueError, match="empty"):
        evaluate(model, TensorDataset(torch.zeros(0, 1, 12, 12), torch.zeros(0, dtype=torch.long)))


def test_lr_schedules():
    kw = dict(base_lr=0.1, total_steps=100, steps_per_epoch=10)
    assert lr_at(0, schedule="linear", **kw) == 0.1
    assert math.isclose(lr_at(50, schedule="linear", **kw), 0.05)
    assert math.isclose(lr_at(99, schedule="linear", **kw), 0.001)
    steps = [lr_at(s, schedule="step", milestones=[3, 6], **kw) for s in (29, 30, 59, 60, 99)]
    assert [round(v, 6) for v in steps] == [0.1, 0.01, 0.01, 0.001, 0.001]
    assert math.isclose(lr_at(50, schedule="cosine", **kw), 0.05)
    assert lr_at(0, schedule="cosine", **kw) == 0.1
    with pytest.raises(ValueError, match="unknown schedule 'poly'"):
        lr_at(0, schedule="poly", **kw)


def test_loader_order_is_a_function_of_seed_and_epoch():
    ds = TensorDataset(torch.arange(10).float(), torch.arange(10))
    order = lambda **kw: [int(y) for _, ys in make_loader(ds, 3, shuffle=True, **kw) for y in ys]  # noqa: E731
    assert sorted(order(seed=0, epoch=0)) == list(range(10))
    assert order(seed=0, epoch=0) == order(seed=0, epoch=0)
    assert order(seed=0, epoch=0) != order(seed=0, epoch=1)
    assert order(seed=0, epoch=1, skip_batches=2) == order(seed=0, epoch=1)[6:]


# ---------------------------------------------------------------------------------------------
# training: learns, deterministic, hooks


def test_fit_learns_and_reports_per_epoch_metrics():
    train, val = synthetic_images(), synthetic_images(n=60, seed=1, augment=None)
    model = new_model()
    result = fit(model, train, val, **COMMON)
    assert [row["epoch"] for row in result.history] == [1, 2, 3]
    assert set(result.history[0]) == {
        "epoch", "lr", "train_loss", "train_top1", "train_top5",
        "val_loss", "val_top1", "val_top5", "seconds", "images_per_s",
    }  # fmt: skip
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.final["val_top1"] > 0.6  # chance is 1/6
    # Linear decay: epoch lrs 3e-3 * (1 - e/3).
    assert [round(r["lr"], 6) for r in result.history] == [0.01, 0.006667, 0.003333]
    assert result.best["val_top1"] == max(r["val_top1"] for r in result.history)
    assert result.last_checkpoint is None  # no out_dir, nothing on disk


def test_fit_is_deterministic_on_cpu():
    a, b, c = new_model(), new_model(), new_model()
    recipe = Recipe(epochs=2, batch_size=32)
    ha = fit(a, synthetic_images(), recipe=recipe, progress=False).history
    hb = fit(b, synthetic_images(), recipe=recipe, progress=False).history
    fit(c, synthetic_images(), recipe=recipe, progress=False, seed=1)
    assert_same_weights(a, b)
    assert without_timing(ha) == without_timing(hb)
    assert not torch.equal(a.fc.weight, c.fc.weight)


def test_sgd_step_schedule_and_hooks():
    steps, epochs_seen = [], []
    recipe = Recipe(epochs=4, batch_size=32, optimizer="sgd", lr=0.05, schedule="step",
                    milestones=[3, 2])
    assert recipe.milestones == (2, 3) and recipe.milestone_epochs == [2, 3]
    result = fit(
        new_model(), synthetic_images(n=96), recipe=recipe, progress=False,
        before_step=lambda model, step: steps.append(step),
        after_epoch=lambda epoch, row: epochs_seen.append(epoch),
    )  # fmt: skip
    assert steps == list(range(12)) and epochs_seen == [1, 2, 3, 4]
    assert [round(r["lr"], 6) for r in result.history] == [0.05, 0.05, 0.005, 0.0005]
    # every step's lr comes from Recipe.lr_at (3 steps per epoch here)
    assert [recipe.lr_at(s, 3) for s in (0, 5, 6, 9)] == [0.05, 0.05, 0.05 * 0.1, 0.05 * 0.1**2]
    stopped = fit(new_model(), synthetic_images(n=96), recipe=Recipe(epochs=4, batch_size=32),
                  progress=False, after_epoch=lambda epoch, row: epoch == 2)  # fmt: skip
    assert stopped.stopped_early and len(stopped.history) == 2


@pytest.mark.parametrize("bad, message", [
    ({"optimizer": "rmsprop"}, r"unknown optimizer 'rmsprop'.*adam, sgd"),
    ({"schedule": "poly"}, r"unknown schedule 'poly'"),
    ({"epochs": 0}, r"epochs must be an integer >= 1, got 0"),
    ({"epochs": 2.5}, r"epochs must be an integer >= 1, got 2.5"),  # trained 3 epochs, lr < 0
    ({"epochs": True}, r"epochs must be an integer >= 1, got True"),
    ({"batch_size": 2.5}, r"batch_size must be an integer >= 1, got 2.5"),
    ({"momentum": 2}, r"momentum \(SGD momentum, Adam beta1\) must be a number in \[0, 1\), got 2"),
    ({"lr": -1}, r"lr must be a number in \(0, inf\), got -1"),
    ({"lr": float("nan")}, r"lr must be a number"),
    ({"gamma": 0}, r"gamma must be a number in \(0, inf\), got 0"),
    ({"label_smoothing": 1.0}, r"label_smoothing must be a number in \[0, 1\), got 1.0"),
    ({"weight_decay": -1}, r"weight_decay must be a number in \[0, inf\)"),
    ({"milestones": [1.5]}, r"milestones must be an integer >= 1, got 1.5"),
])
def test_bad_recipe_is_refused_at_construction_naming_the_field(bad, message):
    with pytest.raises(ValueError, match=message):
        Recipe(**{"epochs": 1, **bad})
    with pytest.raises(ValueError, match=message):  # dataclasses.replace checks too
        replace(RECIPE, **bad)


@pytest.mark.parametrize("bad, message", [
    ({"checkpoint_every": 0}, r"checkpoint_every must be an integer >= 1"),
    ({"eval_batch_size": 0}, r"eval_batch_size must be an integer >= 1"),
    ({"recipe": {"epochs": 1}}, r"recipe must be a bnnlib.train.Recipe, got dict"),
    ({"recipe": Recipe(epochs=1, batch_size=16, drop_last=True)},
     r"drop_last=True with batch_size=16 > 8 training images leaves no batch"),
])
def test_bad_fit_arguments_are_refused_before_training(bad, message):
    model = new_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises((ValueError, TypeError), match=message):
        fit(model, synthetic_images(n=8), **{"recipe": Recipe(epochs=1), "progress": False, **bad})
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_recipe_identity_is_the_checkpoint_format_2_recipe():
    """The identity's recipe part keeps the keys and values fit has always written, so
    checkpoints on disk stay resumable."""
    assert RECIPE.identity(seed=0) == {
        "epochs": 3, "batch_size": 32, "optimizer": "adam", "lr": 1e-2, "schedule": "linear",
        "milestones": [], "gamma": 0.1, "weight_decay": None, "momentum": 0.9,
        "label_smoothing": 0.0, "seed": 0, "drop_last": False,
    }  # fmt: skip
    step = Recipe(epochs=200, optimizer="sgd", lr=0.1, schedule="step", weight_decay=1e-4)
    assert step.identity(seed=3)["milestones"] == [60, 120, 180]
    assert step.identity(seed=3)["weight_decay"] == 1e-4 and step.identity(seed=3)["seed"] == 3


# ---------------------------------------------------------------------------------------------
# resume == uninterrupted


class Killed(Exception):
    pass


def kill_at(step_to_die):
    def hook(model, step):
        if step == step_to_die:
            raise Killed(step)

    return hook


@pytest.mark.parametrize("checkpoint_every", [None, 4])
def test_killed_run_resumes_to_identical_weights_and_metrics(tmp_path, checkpoint_every):
    """Kill in the middle of epoch 2; the restarted run ends exactly where an uninterrupted one does.

    ``checkpoint_every=None``: restart from the end of epoch 1 (epoch 2 redone);
    ``checkpoint_every=4``: restart from step 8, in the middle of epoch 2 (6 steps per epoch).
    """
    train, val = synthetic_images(augment="crop_flip"), synthetic_images(n=60, seed=1, augment=None)
    reference = new_model()
    ref = fit(reference, train, val, out_dir=tmp_path / "ref", **COMMON)

    model = new_model()
    run = tmp_path / "run"
    with pytest.raises(Killed):
        fit(model, train, val, out_dir=run, before_step=kill_at(9),
            checkpoint_every=checkpoint_every, **COMMON)  # fmt: skip
    restarted = new_model(seed=123)  # a fresh process would build a fresh model
    result = fit(restarted, train, val, out_dir=run, checkpoint_every=checkpoint_every, **COMMON)

    expected_resume = {"epoch": 1, "step_in_epoch": 0, "global_step": 6}
    if checkpoint_every:
        expected_resume = {"epoch": 1, "step_in_epoch": 2, "global_step": 8}
    assert result.resumed_from == expected_resume
    assert_same_weights(restarted, reference)
    assert without_timing(result.history) == without_timing(ref.history)
    # The DVCLive files equal the uninterrupted run's too.
    for name in ("train/loss.tsv", "val/top1.tsv", "lr.tsv"):
        path = "live/plots/metrics/" + name
        assert (run / path).read_text() == (tmp_path / "ref" / path).read_text()
    ref_summary = json.loads((tmp_path / "ref/live/metrics.json").read_text())
    summary = json.loads((run / "live/metrics.json").read_text())
    assert summary["val"] == ref_summary["val"] and summary["step"] == 2
    history = json.loads((run / "history.json").read_text())
    assert without_timing(history) == without_timing(ref.history)

    # Best checkpoint: loads into a model and reproduces its epoch's validation top-1.
    best_model = new_model(seed=7)
    state = load_checkpoint(run / "best.pt", best_model)
    assert evaluate(best_model, val)["top1"] == state["best"]["val_top1"]


def test_checkpoint_interval_writes_fewer_epochs_and_still_resumes_exactly(tmp_path):
    """With ``checkpoint_interval_s`` longer than the run, no epoch but the last is written: a
    run killed in epoch 3 restarts from scratch and still ends like an uninterrupted one; with
    0 (the default) the same kill resumes from epoch 2's checkpoint."""
    train, val = synthetic_images(augment="crop_flip"), synthetic_images(n=60, seed=1, augment=None)
    reference = new_model()
    ref = fit(reference, train, val, out_dir=tmp_path / "ref", **COMMON)
    saved = {}
    for interval in (3600.0, 0.0):
        run = tmp_path / f"run{interval:g}"
        with pytest.raises(Killed):
            fit(new_model(), train, val, out_dir=run, before_step=kill_at(14),
                checkpoint_interval_s=interval, **COMMON)
        saved[interval] = (run / "last.pt").exists()
        restarted = new_model()  # a restarted stage builds its seeded initial model again
        result = fit(restarted, train, val, out_dir=run, checkpoint_interval_s=interval, **COMMON)
        assert result.resumed_from == (None if interval else
                                       {"epoch": 2, "step_in_epoch": 0, "global_step": 12})
        assert_same_weights(restarted, reference)
        assert without_timing(result.history) == without_timing(ref.history)
        assert load_checkpoint(run / "last.pt", new_model(seed=5))["epoch"] == 3
    assert saved == {3600.0: False, 0.0: True}
    with pytest.raises(ValueError, match="checkpoint_interval_s"):
        fit(new_model(), train, val, checkpoint_interval_s=-1, **COMMON)


def test_resume_mid_epoch_with_stateful_hook(tmp_path):
    """A before_step hook with state_dict/load_state_dict is checkpointed with the run."""

    class Counter:
        def __init__(self, die_at=None):
            self.calls, self.die_at = 0, die_at

        def __call__(self, model, step):
            if step == self.die_at:
                raise Killed(step)
            self.calls += 1

        def state_dict(self):
            return {"calls": self.calls}

        def load_state_dict(self, state):
            self.calls = state["calls"]

    train = synthetic_images(n=96)
    ref_hook = Counter()
    kw = dict(recipe=Recipe(epochs=2, batch_size=32), progress=False)
    fit(new_model(), train, before_step=ref_hook, **kw)
    with pytest.raises(Killed):
        fit(new_model(), train, out_dir=tmp_path, before_step=Counter(die_at=4),
            checkpoint_every=1, **kw)  # fmt: skip
    hook = Counter()
    fit(new_model(), train, out_dir=tmp_path, before_step=hook, checkpoint_every=1, **kw)
    assert hook.calls == ref_hook.calls == 6


def test_finished_run_is_not_retrained(tmp_path):
    train = synthetic_images(n=64)
    first = fit(new_model(), train, out_dir=tmp_path, **COMMON)
    model = new_model(seed=5)
    again = fit(model, train, out_dir=tmp_path, **COMMON)
    assert again.resumed_from["epoch"] == 3
    assert again.history == first.history
    assert_same_weights(model, load_model(tmp_path / "last.pt"))


def load_model(path):
    model = new_model(seed=99)
    load_checkpoint(path, model)
    return model


# ---------------------------------------------------------------------------------------------
# bad checkpoints


def test_checkpoint_from_another_model_is_rejected(tmp_path):
    train = synthetic_images(n=64)
    fit(new_model(width=6), train, out_dir=tmp_path, **COMMON)
    with pytest.raises(CheckpointMismatchError, match=r"written by another run: model.structure"):
        fit(new_model(width=8), train, out_dir=tmp_path, **COMMON)
    with pytest.raises(CheckpointMismatchError, match=r"model.name vgg != None in checkpoint"):
        load_checkpoint(tmp_path / "last.pt", new_model(), name="vgg")
    with pytest.raises(CheckpointMismatchError, match=r"recipe.lr 0.1 != 0.01 in checkpoint") as err:
        fit(new_model(), train, out_dir=tmp_path, recipe=replace(RECIPE, lr=0.1), progress=False)
    assert err.value.detail == "recipe.lr 0.1 != 0.01 in checkpoint"
    # resume=False starts over instead.
    result = fit(new_model(width=8), train, out_dir=tmp_path, resume=False, **COMMON)
    assert result.resumed_from is None


def test_checkpoint_on_other_data_of_the_same_size_is_rejected(tmp_path):
    """Same shapes, same number of images: only the data identity tells the runs apart."""
    fit(new_model(), synthetic_images(n=64, seed=0), out_dir=tmp_path, **COMMON)
    with pytest.raises(CheckpointMismatchError, match=r"data.train.images \w+ != \w+"):
        fit(new_model(), synthetic_images(n=64, seed=1), out_dir=tmp_path, **COMMON)
    with pytest.raises(CheckpointMismatchError, match=r"data.val"):
        fit(new_model(), synthetic_images(n=64, seed=0), synthetic_images(n=8), out_dir=tmp_path,
            **COMMON)
    with pytest.raises(CheckpointMismatchError, match=r"data.train.augment crop_flip != flip"):
        fit(new_model(), synthetic_images(n=64, augment="crop_flip"), out_dir=tmp_path, **COMMON)
    again = fit(new_model(), synthetic_images(n=64, seed=0), out_dir=tmp_path, **COMMON)
    assert again.resumed_from["epoch"] == 3


def test_checkpoint_of_another_context_is_rejected(tmp_path):
    train = synthetic_images(n=64)
    fit(new_model(), train, out_dir=tmp_path, context={"code": "abc", "init": 1}, **COMMON)
    with pytest.raises(CheckpointMismatchError, match=r"context.code def != abc in checkpoint"):
        fit(new_model(), train, out_dir=tmp_path, context={"code": "def", "init": 1}, **COMMON)
    again = fit(new_model(), train, out_dir=tmp_path, context={"init": 1, "code": "abc"}, **COMMON)
    assert again.resumed_from["epoch"] == 3


def test_identity_uses_build_kwargs_not_the_mutable_genome(tmp_path):
    """Equal shapes, another activation quantizer: build_kwargs tell the two models apart; a
    supernet's active genome (mutable state) is not part of the identity."""
    from bnnlib import models, supernet

    kw = dict(num_classes=6, in_channels=1, expansion=0.25, width_mult=0.25)
    train = synthetic_images(n=32)
    one = dict(recipe=Recipe(epochs=1), progress=False)
    fit(models.build("vgg_small", **kw), train, out_dir=tmp_path / "a", **one)
    ste = models.build("vgg_small", act_quantizer="ste_sign", **kw)
    with pytest.raises(CheckpointMismatchError,
                       match=r"model.build_kwargs.act_quantizer ste_sign != dorefa"):
        load_checkpoint(tmp_path / "a" / "last.pt", ste)
    sn = supernet.build("vgg_small", num_classes=6, in_channels=1, width_mult=0.25)
    fit(sn, train, out_dir=tmp_path / "sn", **one)
    other = supernet.build("vgg_small", num_classes=6, in_channels=1, width_mult=0.25)
    other.set_genome((0.25,) * 6)
    load_checkpoint(tmp_path / "sn" / "last.pt", other)
    capped = supernet.build("vgg_small", num_classes=6, in_channels=1, width_mult=0.25,
                            width_choices=(0.5, 1.0, 4.0))
    with pytest.raises(CheckpointMismatchError, match=r"model.build_kwargs.width_choices"):
        load_checkpoint(tmp_path / "sn" / "last.pt", capped)


def test_corrupt_last_checkpoint_is_moved_aside_and_best_resumes(tmp_path):
    """A corrupt last.pt never costs the other files: it is moved aside, and best.pt (a whole
    run state at its epoch) continues the run to the uninterrupted result."""
    train, val = synthetic_images(n=64), synthetic_images(n=32, seed=1, augment=None)
    reference = new_model()
    ref = fit(reference, train, val, out_dir=tmp_path / "ref", **COMMON)
    run = tmp_path / "run"
    fit(new_model(), train, val, out_dir=run, **COMMON)
    raw = (run / "last.pt").read_bytes()
    (run / "last.pt").write_bytes(raw[: len(raw) // 2])  # a partial write
    model = new_model(seed=5)
    with pytest.warns(RuntimeWarning, match=r"last.pt is corrupt.*Moved it to .*last.pt.corrupt"):
        result = fit(model, train, val, out_dir=run, **COMMON)
    assert (run / "last.pt.corrupt").exists() and (run / "best.pt").exists()
    assert result.resumed_from["checkpoint"] == "best.pt"
    assert without_timing(result.history) == without_timing(ref.history)
    assert_same_weights(model, reference)
    assert (run / "history.json").exists()


def test_corrupt_last_and_best_start_over(tmp_path):
    train = synthetic_images(n=64)
    fit(new_model(), train, out_dir=tmp_path, **COMMON)
    for name in ("last.pt", "best.pt"):
        (tmp_path / name).write_bytes(b"PK\x03\x04 not ours")
    with pytest.warns(RuntimeWarning, match="not a bnnlib checkpoint"):
        result = fit(new_model(), train, out_dir=tmp_path, **COMMON)
    assert result.resumed_from is None and len(result.history) == 3
    assert sorted(p.name for p in tmp_path.glob("*.corrupt")) == ["best.pt.corrupt", "last.pt.corrupt"]


def test_corrupt_or_partial_checkpoint_is_detected(tmp_path):
    train = synthetic_images(n=64)
    fit(new_model(), train, out_dir=tmp_path, **COMMON)
    path = tmp_path / "last.pt"
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])  # partial write
    with pytest.raises(CorruptFileError, match="corrupt or partially written"):
        load_checkpoint(path, new_model())
    flipped = bytearray(raw)
    flipped[-100] ^= 0xFF  # one altered byte
    path.write_bytes(bytes(flipped))
    with pytest.raises(CorruptFileError, match="SHA-256"):
        load_checkpoint(path, new_model())
    path.write_bytes(b"PK\x03\x04 not ours")
    with pytest.raises(CorruptFileError, match="not a bnnlib checkpoint"):
        load_checkpoint(path)
    # No temporary files are left behind by the atomic writes.
    assert sorted(p.name for p in tmp_path.glob(".*tmp")) == []


# ---------------------------------------------------------------------------------------------
# with the project's binary models


def test_binary_vgg_small_trains_and_resumes(tmp_path):
    models = pytest.importorskip("bnnlib.models")
    images = torch.randint(0, 256, (96, 1, 28, 28), generator=torch.Generator().manual_seed(0))
    train = InMemoryImages(images.to(torch.uint8), torch.arange(96) % 10, (0.3,), (0.3,))

    def build():
        torch.manual_seed(0)
        return models.build("vgg_small", in_channels=1, num_classes=10, expansion=0.25)

    kw = dict(recipe=Recipe(epochs=2, batch_size=32), progress=False)
    reference = build()
    fit(reference, train, **kw)
    with pytest.raises(Killed):
        fit(build(), train, out_dir=tmp_path, before_step=kill_at(4), checkpoint_every=2, **kw)
    restarted = build()
    fit(restarted, train, out_dir=tmp_path, checkpoint_every=2, **kw)
    assert_same_weights(restarted, reference)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_amp_channels_last_and_cpu_reload(tmp_path):
    train = synthetic_images(n=96)
    model = new_model()
    result = fit(model, train, train, out_dir=tmp_path, **COMMON)  # device=None picks CUDA
    assert next(model.parameters()).is_cuda
    assert math.isfinite(result.final["train_loss"])
    cpu_model = new_model(seed=3)
    load_checkpoint(tmp_path / "last.pt", cpu_model)
    on_cpu = evaluate(cpu_model, train)
    on_gpu = evaluate(model, train, amp=False)
    assert abs(on_cpu["loss"] - on_gpu["loss"]) < 1e-3


def test_a_final_checkpoint_is_the_size_bnnlib_cost_projects(tmp_path):
    """bnnlib.cost counts a finished model's last.pt as its weights and buffers
    (``supernet.state_bytes``) and a run state in training as that times 1 + Adam's two moments:
    the files are those sizes but for some kilobytes (history, RNG states, identity)."""
    from bnnlib import models, supernet

    train = synthetic_images(n=64)
    torch.manual_seed(0)
    model = models.build("vgg_small", num_classes=6, in_channels=1, width_mult=0.25)
    weights = supernet.state_bytes(model)
    assert weights == supernet.static_state_bytes("vgg_small", num_classes=6, in_channels=1,
                                                  width_mult=0.25) > 1_000_000
    with pytest.raises(Killed):  # a run state mid-way: 3 copies of the weights, less buffers
        fit(model, train, out_dir=tmp_path / "mid", before_step=kill_at(2), **COMMON)
    mid = (tmp_path / "mid" / "last.pt").stat().st_size
    assert 2.9 * weights < mid < 3 * weights + 200_000, (mid, weights)
    fit(model, train, out_dir=tmp_path / "done", keep_best=False, **COMMON)
    final = (tmp_path / "done" / "last.pt").stat().st_size
    assert weights < final < weights + 200_000, (final, weights)
    assert [p.name for p in (tmp_path / "done").glob("*.pt")] == ["last.pt"]


def test_a_finished_run_keeps_a_final_checkpoint_without_optimizer_state(tmp_path, monkeypatch):
    """last.pt of a finished run drops the optimizer's state (its epochs are in the identity:
    it never trains further); resuming it changes nothing; ``keep_best=False`` drops best.pt;
    a finished run's whole-state last.pt (an earlier version's) is made final when resumed."""
    from bnnlib import train as train_mod
    from bnnlib.utils import load_checksummed

    train, val = synthetic_images(n=64), synthetic_images(n=32, seed=1, augment=None)
    reference = new_model()
    ref = fit(reference, train, val, out_dir=tmp_path / "ref", **COMMON)
    saved = load_checksummed(tmp_path / "ref" / "last.pt")
    assert saved["final"] and saved["optimizer"] is None and saved["epoch"] == 3
    assert ref.best_checkpoint is not None  # keep_best defaults to True for fit's callers
    mid = tmp_path / "mid"  # a whole run state after epoch 1 of 3: weights + 2 Adam moments
    with pytest.raises(Killed):
        fit(new_model(), train, val, out_dir=mid, before_step=kill_at(2), **COMMON)
    assert load_checksummed(mid / "last.pt")["optimizer"]["state"]
    weight_bytes = sum(4 * p.numel() for p in reference.parameters())
    # the two moments' bytes (less the longer history of the finished run)
    saved_bytes = (mid / "last.pt").stat().st_size - (tmp_path / "ref" / "last.pt").stat().st_size
    assert saved_bytes > 1.5 * weight_bytes

    before = (tmp_path / "ref" / "last.pt").read_bytes()
    model = new_model(seed=9)
    again = fit(model, train, val, out_dir=tmp_path / "ref", **COMMON)
    assert again.resumed_from == {"epoch": 3, "step_in_epoch": 0, "global_step": 6}
    assert_same_weights(model, reference)
    assert again.history == ref.history
    assert (tmp_path / "ref" / "last.pt").read_bytes() == before  # not rewritten

    slim = fit(new_model(), train, val, out_dir=tmp_path / "slim", keep_best=False, **COMMON)
    assert slim.best_checkpoint is None and not (tmp_path / "slim" / "best.pt").exists()
    assert without_timing([slim.best]) == without_timing([ref.best])  # still recorded

    # an earlier version wrote whole run states to the end: resumed, it becomes final
    monkeypatch.setattr(train_mod, "_finish", lambda run, state: None)
    real_save = train_mod._save_epoch_end
    monkeypatch.setattr(train_mod, "_save_epoch_end",
                        lambda run, state, is_best, final=False: real_save(run, state, is_best))
    fit(new_model(), train, val, out_dir=tmp_path / "old", **COMMON)
    assert load_checksummed(tmp_path / "old" / "last.pt")["optimizer"] is not None
    monkeypatch.undo()
    model = new_model(seed=4)
    old = fit(model, train, val, out_dir=tmp_path / "old", keep_best=False, **COMMON)
    assert old.resumed_from["epoch"] == 3 and old.best_checkpoint is None
    assert load_checksummed(tmp_path / "old" / "last.pt")["final"]
    assert_same_weights(model, reference)

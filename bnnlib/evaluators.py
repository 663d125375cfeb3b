"""Candidate evaluators: turn a genome into a validation accuracy.

- ``OneShotEvaluator`` (Phan et al. sec. 3.2.3 with SPOS-style scoring): set the genome on the
  trained supernet, recalibrate BN on a fixed seeded subset of training images
  (``bnnlib.bn.recalibrate_bn``), and score top-1 on a fixed seeded subset of the held-out
  search-validation split. All candidates use the same images. ``group_conv="dense"`` runs the
  grouped convolutions as dense block-diagonal ones while scoring (``bnnlib.dynamic``: the same
  scores up to the order of the sums, much faster on a GPU at 28x28).
- ``FinetuneEvaluator`` (Shen et al. "Initialization"): cut the candidate from the trained
  4x-wide model by prefix slicing (``Supernet.extract``), train it for a few epochs on the
  search subset, then score top-1 on the validation subset. ``epochs=0`` gives the cheap
  one-shot variant (extract + BN recalibration, no training).

Accuracies are fractions in [0, 1]; ``bnnlib.fitness`` turns them into fitness values. The test
set is never used here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import torch
from torch.utils.data import Dataset

from .bn import fixed_subset, recalibrate_bn
from .dynamic import check_group_conv
from .dynamic import group_conv as dynamic_group_conv
from .supernet import Supernet
from .train import Recipe, evaluate, fit


class OneShotEvaluator:
    """Top-1 of a supernet candidate after BN recalibration; see the module docstring."""

    def __init__(self, supernet: Supernet, calib_data: Dataset, val_data: Dataset, *,
                 calib_images: int | None = 2000, val_images: int | None = None,
                 batch_size: int = 256, seed: int = 0, num_workers: int = 0,
                 autotune: bool = False, group_conv: str = "grouped"):
        self.supernet = supernet
        self.autotune = autotune  # cudnn.benchmark as it is (True) or off while scoring
        # how the supernet's grouped convolutions run while scoring (bnnlib.dynamic.group_conv)
        self.group_conv = check_group_conv(group_conv)
        self.calib = fixed_subset(calib_data, calib_images, seed)
        self.val = fixed_subset(val_data, val_images, seed + 1)
        self.batch_size = batch_size
        self.num_workers = num_workers  # data loading only: scores do not depend on it
        self.evaluations = 0

    def __call__(self, genome: Sequence) -> float:
        self.supernet.set_genome(genome)
        with (contextlib.nullcontext() if self.autotune else no_autotuning(),
              dynamic_group_conv(self.group_conv)):
            recalibrate_bn(self.supernet, self.calib, None, self.batch_size,
                           num_workers=self.num_workers)
            self.evaluations += 1
            return evaluate(self.supernet, self.val, self.batch_size,
                            num_workers=self.num_workers)["top1"]


@contextlib.contextmanager
def no_autotuning():
    """cuDNN autotuning (``cudnn.benchmark``, which ``fit`` turns on) off for the block.

    Each candidate brings convolutions of new shapes (group counts, widths), and autotuning
    each new shape for a few forward passes costs more than it saves: measured on an H200 at
    the gpu profile's sizes, one-shot evaluations of VGG-small's supernet ran at 778 per minute
    without it and 107 with it (bench/bench_supernet.py; docs/gpu.md).
    """
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before


class FinetuneEvaluator:
    """Top-1 of a candidate initialised from the 4x model and trained a few epochs.

    ``recipe_kwargs`` are further :class:`bnnlib.train.Recipe` fields (default: SGD, lr 0.01,
    cosine decay); ``fit_kwargs`` keeps them, defaults filled in, for the search state's
    identity.
    """

    def __init__(self, supernet: Supernet, train_data: Dataset, val_data: Dataset, *,
                 epochs: int = 1, calib_images: int | None = 2000, val_images: int | None = None,
                 batch_size: int = 128, seed: int = 0, num_workers: int = 0, **recipe_kwargs):
        self.supernet = supernet
        self.num_workers = num_workers  # training draws crops in the workers: part of the state
        self.train_data = train_data
        self.calib = fixed_subset(train_data, calib_images, seed)
        self.val = fixed_subset(val_data, val_images, seed + 1)
        self.epochs, self.batch_size, self.seed = epochs, batch_size, seed
        self.fit_kwargs = {"optimizer": "sgd", "lr": 0.01, "schedule": "cosine", **recipe_kwargs}
        # checked now, before any candidate is trained (epochs=0 trains none)
        self.recipe = (Recipe(epochs=epochs, batch_size=batch_size, **self.fit_kwargs)
                       if epochs > 0 else None)
        self.evaluations = 0

    def __call__(self, genome: Sequence) -> float:
        model = self.supernet.extract(genome)
        if self.recipe is not None:
            # one candidate per process: under torchrun the search splits candidates over
            # the ranks (bnnlib.distributed), so this training is not data-parallel
            fit(model, self.train_data, recipe=self.recipe, seed=self.seed, out_dir=None,
                progress=False, distributed=False, num_workers=self.num_workers)
        else:
            recalibrate_bn(model, self.calib, None, self.batch_size, num_workers=self.num_workers)
        self.evaluations += 1
        return evaluate(model, self.val, self.batch_size, num_workers=self.num_workers)["top1"]

"""The scenarios of the data-parallel checks, built identically in 1 and in 2 processes.

Each case takes an output folder and returns what is compared: final weights and the per-epoch
metrics (timings dropped), or a search's history and best genome. Data are random tensors
(no augmentation: see ``bnnlib.distributed`` on why augmented runs differ by process count).
Sizes are chosen so that some batches split unevenly (91 images in batches of 32: a last
batch of 27 = 14 + 13) and the validation split too (33 images).

Binary training is discontinuous (sign and rounding of activations and weights): in one
process, adding 1e-15 noise to the weights after the first step moved the final weights of
binary VGG-small (1/16 width, SGD, float64) by 0.14 after 6 steps, and 1e-13 noise under Adam
by 0.037. A 2-process run differs from one process by round-off (BN sums and gradients are
added in another order), so a binary run can only be compared over one step; whole runs are
compared on the real-valued twins (``binary=False``: the same layers, BN synchronisation,
sharding, loss weighting, genome sampling and checkpoints, with continuous quantizers left
out), in float64 so that round-off stays at 1e-12.
"""

import functools
from pathlib import Path

import torch
from torch.utils.data import TensorDataset

from bnnlib import models, supernet
from bnnlib.bn import fixed_subset, recalibrate_bn
from bnnlib.search import evolutionary_search
from bnnlib.train import Recipe, evaluate, fit

SMALL = dict(num_classes=10, in_channels=1)


def float64(case):
    """Run ``case`` with float64 as torch's default dtype (models and data built in it)."""
    @functools.wraps(case)
    def run(*args, **kwargs):
        before = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)
        try:
            return case(*args, **kwargs)
        finally:
            torch.set_default_dtype(before)
    return run


def data(n: int, seed: int) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.randn(n, 1, 28, 28, generator=g),
                         torch.randint(0, 10, (n,), generator=g))


def _outcome(model, result) -> dict:
    history = [{k: v for k, v in row.items() if k not in ("seconds", "images_per_s")}
               for row in result.history]
    return {"state": {k: v.detach().clone() for k, v in model.state_dict().items()},
            "history": history}


@float64
def static_model(out: Path, *, stop_after: int | None = None) -> dict:
    """VGG-small (1/16 width, real-valued twin), SGD with step decay (Shen et al.), 2 epochs."""
    torch.manual_seed(0)
    model = models.build("vgg_small", width_mult=0.0625, binary=False, **SMALL)
    recipe = Recipe(epochs=2, batch_size=32, optimizer="sgd", lr=0.05, schedule="step",
                    milestones=(1,))
    stop = None if stop_after is None else (lambda epoch, row: epoch >= stop_after)
    result = fit(model, data(91, 0), data(33, 1), recipe=recipe, seed=3, out_dir=out,
                 progress=False, after_epoch=stop)
    return _outcome(model, result)


@float64
def binary_step(out: Path) -> dict:
    """Binary VGG-small (1/16 width): one SGD step on a batch of 45 (23 + 22 images)."""
    torch.manual_seed(0)
    model = models.build("vgg_small", width_mult=0.0625, **SMALL)
    recipe = Recipe(epochs=1, batch_size=45, optimizer="sgd", lr=0.05)
    return _outcome(model, fit(model, data(45, 8), data(33, 1), recipe=recipe, seed=3,
                               out_dir=out, progress=False))


@float64
def real_adam(out: Path) -> dict:
    """Real-valued MobileNet M1 twin (1/4 width), Adam with linear decay (Phan's recipe)."""
    torch.manual_seed(0)
    model = models.build("mobilenet_m1", width_mult=0.25, small_input=True, binary=False, **SMALL)
    recipe = Recipe(epochs=2, batch_size=32, optimizer="adam", lr=1e-3)
    return _outcome(model, fit(model, data(91, 6), data(33, 7), recipe=recipe, seed=2,
                               out_dir=out, progress=False))


@float64
def _supernet_case(name: str, width: float, out: Path, **extra) -> dict:
    torch.manual_seed(0)
    net = supernet.build(name, width_mult=width, binary=False, **SMALL, **extra)
    recipe = Recipe(epochs=1, batch_size=16, optimizer="sgd", lr=0.05, schedule="cosine")
    result = supernet.train_supernet(net, data(70, 2), data(33, 3), seed=5, recipe=recipe,
                                     out_dir=out, progress=False)
    return _outcome(net, result)


def groups_supernet(out: Path) -> dict:
    """MobileNet M1 groups supernet (1/4 width, real-valued twin): a new random group genome
    every step."""
    return _supernet_case("mobilenet_m1", 0.25, out, small_input=True)


def widths_supernet(out: Path) -> dict:
    """VGG-small widths supernet (real-valued twin; prefix-sliced convs *and BN*): random
    widths every step."""
    return _supernet_case("vgg_small", 0.0625, out)


def interrupted(out: Path) -> dict:
    """The static run stopped after epoch 1 of 2 (the test resumes it in one process)."""
    return static_model(out, stop_after=1)


@float64
def search(out: Path) -> dict:
    """An evolutionary search scoring candidates one-shot (BN recalibration + validation loss)
    on a seeded, untrained binary M1 supernet: a deterministic fitness."""
    torch.manual_seed(1)
    net = supernet.build("mobilenet_m1", width_mult=0.25, small_input=True, **SMALL)
    calib, val = fixed_subset(data(64, 4), 32), data(40, 5)

    def fitness(genome):
        net.set_genome(genome)
        recalibrate_bn(net, calib, None, 16)
        scores = evaluate(net, val, 20)
        return -scores["loss"], {"top1": scores["top1"]}

    result = evolutionary_search(net.choices, fitness, population=6, topk=3, crossovers=3,
                                 mutations=3, iterations=3, seed=0, progress=False,
                                 state_path=out / "state.json", log_path=out / "log.jsonl")
    return {"best": result.best, "fitness": [ev.fitness for ev in result.history],
            "genomes": [ev.genome for ev in result.history]}


CASES = {"static": static_model, "real_adam": real_adam, "binary_step": binary_step, "groups_supernet": groups_supernet,
         "widths_supernet": widths_supernet, "interrupted": interrupted, "search": search}

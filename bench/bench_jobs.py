"""Several trainings at once on one device (the ``jobs`` setting) against one after another.

For each family at a profile's sizes (``--sizes``, see ``bench/sizes.py``), ``--trainings``
trainings of the binary uniform model (groups 1 / expansion 1), each ``fit`` on the same
in-memory random images (``--images`` x ``--epochs``, the profile dataset's shape and
augmentation, no checkpoints), are run

- one after another in this process (``jobs`` 1, what a stage does by default), and
- through :func:`bnnlib.jobs.process_map` with ``jobs`` = each of ``--jobs``: the stages' own
  code path, spawned processes included; their start (imports, CUDA context, kernels) is in
  the wall time, as it is in a stage (a stage starts its processes once for all its trainings).

Each process (this one included) first trains one untimed warm-up epoch of a few batches (first
kernels, cuDNN autotuning), counted in the wall times but not in a training's seconds.

Reported: the wall seconds of all the trainings, the speedup ``serial / jobs`` of that wall
time (processes' start included: a short benchmark understates what a long stage gains), the
images/s of all the trainings together, and the *steady* speedup: the seconds of the same
trainings one after another over the span from the first training's start to the last one's
end when run at once (processes' start and warm-up excluded; the stretches where fewer than
``jobs`` ran, as at a stage's end, included). An earlier definition, ``jobs x`` a training's
mean seconds alone over its mean seconds at once, assumed the trainings overlapped fully and
overstated the gain of short trainings whose processes start one after another. Use a
``--trainings`` that every ``--jobs`` divides. Nothing else should run on the device meanwhile.

    python bench/bench_jobs.py --device cuda --sizes gpu --families vgg_small mobilenet_m1 \\
        --jobs 2 3 6 --trainings 6 --json out.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import torch
from bench_supernet import random_images
from bench_train import device_name
from sizes import FAMILIES, profile_input, uniform_kwargs

from bnnlib.jobs import process_map
from bnnlib.models import build
from bnnlib.registry import dataset_info
from bnnlib.train import Recipe, fit

#: (family, sizes, device, batch) this process has warmed up (first kernels, autotuning)
_WARM: set[tuple] = set()


def train_once(family: str, sizes: str, device: str, images: int, epochs: int, batch: int | None,
               seed: int) -> dict:
    """One uniform binary model trained by ``fit``; returns its seconds and images. A process's
    first call first trains one untimed epoch on a few batches (the warm-up every process pays
    once: in the wall times, not in ``seconds``)."""
    inp = profile_input(family, sizes)
    kwargs = uniform_kwargs(family, sizes)
    augment = dataset_info(inp["dataset"]).default_augment
    data = random_images(images, inp["shape"], inp["classes"]).with_augment(augment)
    torch.manual_seed(seed)
    model = build(family, binary=True, **kwargs)
    recipe = Recipe(epochs=epochs, batch_size=batch or inp["batch_size"], optimizer="adam",
                    lr=1e-3, schedule="linear")
    key = (family, sizes, device, recipe.batch_size)
    if key not in _WARM:
        warm = random_images(min(images, 4 * recipe.batch_size), inp["shape"], inp["classes"])
        fit(build(family, binary=True, **kwargs), warm.with_augment(augment),
            recipe=dataclasses.replace(recipe, epochs=1), out_dir=None,
            device=torch.device(device), progress=False, distributed=False)
        _WARM.add(key)
    began, start = time.time(), time.perf_counter()
    result = fit(model, data, recipe=recipe, out_dir=None, device=torch.device(device),
                 progress=False, distributed=False, seed=seed)
    seconds = time.perf_counter() - start
    # wall-clock start and end (comparable across the processes of one machine): the span
    # over which trainings at once overlapped
    return {"seconds": seconds, "images": images * len(result.history), "began": began,
            "ended": began + seconds}


def steady(serial: list[dict], shared: list[dict]) -> dict:
    """The speedup of trainings at once once their processes run: the seconds of the same
    trainings one after another over the span from the first training's start to the last
    one's end (``span_s``; processes' start and warm-up excluded, but not the stretches where
    fewer than ``jobs`` trainings ran, as at a stage's end). Also the mean seconds of one
    training among the others (``training_s``)."""
    span = max(r["ended"] for r in shared) - min(r["began"] for r in shared)
    return {"training_s": sum(r["seconds"] for r in shared) / len(shared), "span_s": span,
            "steady_speedup": sum(r["seconds"] for r in serial) / span}


def bench(family: str, args: argparse.Namespace) -> dict:
    calls = [(family, args.sizes, args.device, args.images, args.epochs, args.batch, seed)
             for seed in range(args.trainings)]
    start = time.perf_counter()
    serial = process_map(train_once, calls, 1)
    serial_s = time.perf_counter() - start
    images = sum(r["images"] for r in serial)
    row = {"family": family, "input": list(profile_input(family, args.sizes)["shape"]),
           "trainings": len(calls), "images": images, "serial_s": serial_s, "jobs": {}}
    alone = sum(r["seconds"] for r in serial) / len(serial)
    for jobs in args.jobs:
        start = time.perf_counter()
        shared = process_map(train_once, calls, jobs, echo=lambda text: None)
        wall = time.perf_counter() - start
        row["jobs"][str(jobs)] = {"wall_s": wall, "speedup": serial_s / wall, "img_s": images / wall,
                                  **steady(serial, shared)}
    row["training_s"] = alone
    return row


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", nargs="+", default=["vgg_small", "mobilenet_m1"],
                        choices=FAMILIES)
    parser.add_argument("--sizes", default="cpu", help="profile whose model sizes and input to use")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--jobs", nargs="+", type=int, default=[2, 3])
    parser.add_argument("--trainings", type=int, default=6)
    parser.add_argument("--images", type=int, default=10000, help="training images per epoch")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=None, help="default: the profile's training batch")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, {device_name(device)}, sizes of profile {args.sizes!r}, "
          f"{args.trainings} trainings of {args.images} images x {args.epochs} epochs")
    print("| family | jobs | wall s | img/s | speedup (wall) | s per training | steady speedup |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    rows = []
    for family in args.families:
        r = bench(family, args)
        rows.append(r)
        print(f"| {family} | 1 | {r['serial_s']:.1f} | {r['images'] / r['serial_s']:,.0f} | 1.00 | "
              f"{r['training_s']:.2f} | 1.00 |")
        for jobs, j in r["jobs"].items():
            print(f"| {family} | {jobs} | {j['wall_s']:.1f} | {j['img_s']:,.0f} | "
                  f"{j['speedup']:.2f} | {j['training_s']:.2f} | {j['steady_speedup']:.2f} |",
                  flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": device_name(device), "torch": torch.__version__,
                       "sizes": args.sizes, "args": vars(args), "rows": rows}, f, indent=1)
    return rows


if __name__ == "__main__":
    main()

"""Supernet cost: training-step time vs the extracted static model, and candidate evaluations/min.

1. For each family, at the model sizes and input of a profile (``--sizes``, default ``cpu``:
   Fashion-MNIST 1x28x28; ``gpu``: the papers' widths on 28x28; ``paper``: CIFAR-10 / ImageNet;
   see ``bench/sizes.py``), draw a few random genomes; for each, time a training step (forward,
   cross-entropy, backward, Adam; on CUDA channels_last and bfloat16 autocast, as ``fit``) of
   the supernet with that genome set (``set_genome`` inside the step, as supernet training does)
   and of the static model ``supernet.extract(genome)``. Steps alternate between the two, and
   the median per-step time of each is kept, so machine load hits both alike. Targets: at most
   1.3 on CPU (issue 4), 1.1 on a GPU (issue 13).
2. Candidate evaluations per minute of the one-shot evaluator used by stage 03 (BN
   recalibration on ``--calib`` images + top-1 on ``--val`` images + the OPs lookup of the
   budget check), on in-memory images of the profile's shape (random pixels: the rate does not
   depend on them), at evaluation batch ``--eval-batch``. Target on a GPU: 1,000 per minute
   for a width-1 MobileNet supernet at 28x28 (issue 13). The candidates are drawn as the
   search draws them (:func:`search_candidates`): in the groups study uniformly within the
   profile's MaxFLOPs (``bnnlib.stages.search.budget``), so M1's candidates sit near its
   groups = 16 end, as in the search; in the widths study uniformly. ``--unconstrained``
   draws every family's uniformly (what this benchmark did before: docs/gpu.md's H200
   sessions). ``--group-conv grouped dense`` times the groups study's scoring both ways
   (``bnnlib.dynamic.group_conv``; the search's ``group_conv`` setting).

    python bench/bench_supernet.py                   # all families
    python bench/bench_supernet.py --families mobilenet_m1 --genomes 5 --json out.json
    python bench/bench_supernet.py --device cuda --sizes gpu --batch 1024
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import statistics
import time

import numpy as np
import torch
from bench_train import batch as random_batch
from bench_train import device_name, sync
from sizes import FAMILIES, PROFILES, profile_input, profile_kwargs
from torch import nn

from bnnlib import settings, supernet
from bnnlib.data import InMemoryImages
from bnnlib.evaluators import OneShotEvaluator
from bnnlib.genome import random_draws
from bnnlib.registry import GROUP_CONVS, GROUP_MODELS


def search_candidates(family: str, sn, shape, profile: str, rng, n: int,
                      unconstrained: bool = False) -> tuple[list[tuple], str]:
    """``n`` distinct genomes drawn as stage 03 draws its candidates, and how they were drawn:
    groups study within the profile's MaxFLOPs (rejection sampling, as the random search and
    the evolution's first population), widths study uniformly (no constraint)."""
    if unconstrained or settings.study_of(family) != "groups":
        return [tuple(sn.sample(rng)) for _ in range(n)], "uniform"
    from bnnlib.stages.search import budget

    view = settings.view("search", family, PROFILES / f"{profile}.yaml", root=PROFILES.parent)
    max_ops = budget(view, sn)
    draws = random_draws(sn.choices, lambda g: sn.ops(g, shape) <= max_ops, rng, n,
                         what=f"{family} genomes within MaxFLOPs {max_ops:.4g}")
    return draws, f"within MaxFLOPs {max_ops:.4g}"


def step_times(sn, static, genome, x, y, steps: int) -> tuple[float, float]:
    """Median seconds per training step of the supernet (genome set each step) and the static model."""
    device = x.device
    amp = (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda"
           else contextlib.nullcontext())
    if device.type == "cuda":
        sn.to(memory_format=torch.channels_last)
        static.to(device, memory_format=torch.channels_last)
    opt_sn = torch.optim.Adam(sn.parameters(), 1e-3)
    opt_st = torch.optim.Adam(static.parameters(), 1e-3)
    loss = nn.CrossEntropyLoss()
    times = {"supernet": [], "static": []}
    sn.train()
    static.train()
    for i in range(steps + 2):  # two warm-up rounds
        for kind in ("supernet", "static"):
            sync(device)
            t = time.perf_counter()
            if kind == "supernet":
                sn.set_genome(genome)
                opt_sn.zero_grad(set_to_none=True)
                with amp:
                    out = loss(sn(x), y)
                out.backward()
                opt_sn.step()
            else:
                opt_st.zero_grad(set_to_none=True)
                with amp:
                    out = loss(static(x), y)
                out.backward()
                opt_st.step()
            sync(device)
            if i >= 2:
                times[kind].append(time.perf_counter() - t)
    return statistics.median(times["supernet"]), statistics.median(times["static"])


def random_images(n: int, shape, classes: int, seed: int = 0) -> InMemoryImages:
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, *shape), dtype=torch.uint8, generator=g)
    targets = torch.randint(0, classes, (n,), generator=g)
    c = shape[0]
    return InMemoryImages(images, targets, [0.5] * c, [0.25] * c)


def setting_key(autotune: bool, eval_batch: int, group_conv: str = "grouped") -> str:
    """The key of one scoring setting's rate: ``autotune0_batch5000``, ``..._dense``."""
    return f"autotune{int(autotune)}_batch{eval_batch}" + ("_dense" if group_conv == "dense" else "")


def write(args: argparse.Namespace, sizes: dict, device: torch.device, rows: list[dict]) -> None:
    # BNNLIB_DENSE_GROUPS: how the supernet's training steps ran their grouped convolutions
    meta = {"machine": device_name(device), "torch": torch.__version__, "sizes": sizes,
            "profile": args.sizes, "calib_images": args.calib, "val_images": args.val,
            "eval_batch": args.eval_batch, "group_conv": args.group_conv,
            "BNNLIB_DENSE_GROUPS": os.environ.get("BNNLIB_DENSE_GROUPS", "0")}
    with open(args.json, "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=2)


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--sizes", default="cpu", help="profile whose model sizes and input to time (profiles/<name>.yaml)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--genomes", type=int, default=3)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch", type=int, default=None, help="training batch (default: the profile's)")
    parser.add_argument("--calib", type=int, default=500)
    parser.add_argument("--val", type=int, default=1000)
    parser.add_argument("--eval-batch", type=int, nargs="+", default=[256],
                        help="batches of BN recalibration and scoring, one rate each")
    parser.add_argument("--evals", type=int, default=5, help="candidates timed per family")
    parser.add_argument("--autotune", choices=("off", "both"), default="both",
                        help="on CUDA, also time evaluations with cudnn.benchmark forced on")
    parser.add_argument("--group-conv", nargs="+", default=["grouped"], choices=GROUP_CONVS,
                        help="how the groups study's candidates run their grouped convolutions "
                             "while scored (the search's group_conv; one rate each, keys "
                             "ending in _dense for dense; the widths families have none)")
    parser.add_argument("--unconstrained", action="store_true",
                        help="uniformly random candidates in every family (default: the groups "
                             "study's within the profile's MaxFLOPs, as the search draws them)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # as fit does

    sizes = {family: profile_kwargs(family, args.sizes) for family in args.families}
    rows = []
    for family in args.families:
        inp = profile_input(family, args.sizes)
        batch = args.batch or inp["batch_size"]
        x, y = random_batch(inp["shape"], batch, inp["classes"], device)
        torch.manual_seed(0)
        sn = supernet.build(family, num_classes=inp["classes"], in_channels=inp["shape"][0],
                            **sizes[family]).to(device)
        rng = np.random.default_rng(0)
        ratios, sn_ms, st_ms = [], [], []
        for _ in range(args.genomes):
            genome = sn.sample(rng)
            static = sn.extract(genome)
            a, b = step_times(sn, static, genome, x, y, args.steps)
            ratios.append(a / b)
            sn_ms.append(1e3 * a)
            st_ms.append(1e3 * b)
        images = random_images(args.calib + args.val, inp["shape"], inp["classes"])
        calib = torch.utils.data.Subset(images, range(args.calib))
        val = torch.utils.data.Subset(images, range(args.calib, args.calib + args.val))
        rates = {}
        modes = args.group_conv if family in GROUP_MODELS else ["grouped"]
        count = len(modes) * len(args.eval_batch) * (
            2 if device.type == "cuda" and args.autotune == "both" else 1)
        pool, drawn = search_candidates(family, sn, inp["shape"], args.sizes, rng,
                                        count * (args.evals + 1), args.unconstrained)
        pool = iter(pool)
        scorings = itertools.product(
            (False, True) if device.type == "cuda" and args.autotune == "both" else (False,),
            args.eval_batch, modes)
        for autotune, eval_batch, mode in scorings:
            # cudnn.benchmark autotunes every new conv shape: candidates bring new shapes
            torch.backends.cudnn.benchmark = autotune
            ev = OneShotEvaluator(sn, calib, val, calib_images=None, val_images=None,
                                  batch_size=eval_batch, autotune=autotune, group_conv=mode)
            ev(next(pool))  # warm-up: first kernels
            sync(device)
            t = time.perf_counter()
            for _ in range(args.evals):
                genome = next(pool)
                sn.ops(genome, inp["shape"])
                ev(genome)
            sync(device)
            rates[setting_key(autotune, eval_batch, mode)] = (
                60 * args.evals / (time.perf_counter() - t))
        torch.backends.cudnn.benchmark = device.type == "cuda"
        per_min = rates[setting_key(False, args.eval_batch[0], modes[0])]
        row = {"family": family, "input": list(inp["shape"]), "batch": batch,
               "supernet_step_ms": statistics.median(sn_ms),
               "static_step_ms": statistics.median(st_ms), "ratio_median": statistics.median(ratios),
               "ratio_max": max(ratios), "evaluations_per_min": per_min,
               "evaluations_per_min_by_setting": rates, "candidates": drawn}
        rows.append(row)
        if args.json:  # after every family: a run stopped later keeps what it measured
            write(args, sizes, device, rows)
        print(f"{family:13s} supernet {row['supernet_step_ms']:7.1f} ms  static {row['static_step_ms']:7.1f} ms  "
              f"ratio {row['ratio_median']:.2f} (max {row['ratio_max']:.2f})  "
              f"one-shot evaluations/min ({drawn}) " + ", ".join(f"{k} {v:.0f}" for k, v in rates.items()),
              flush=True)
    if args.json:
        write(args, sizes, device, rows)
    return rows


if __name__ == "__main__":
    main()

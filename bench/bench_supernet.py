"""Supernet cost: training-step time vs the extracted static model, and candidate evaluations/min.

1. For each family, at the model sizes of a profile (``--sizes``, default ``cpu``: Fashion-MNIST
   1x28x28, batch 128; see ``bench/sizes.py``), draw a few random genomes; for
   each, time a training step (forward, cross-entropy, backward, Adam) of the supernet with that
   genome set (``set_genome`` inside the step, as supernet training does) and of the static
   model ``supernet.extract(genome)``. Steps alternate between the two, and the median per-step
   time of each is kept, so machine load hits both alike. The aim (issue 4) is a ratio of at
   most 1.3: weight sharing (block-diagonal crops, prefix slices) should cost little.
2. Candidate evaluations per minute of the one-shot evaluator used by stage 03 (BN
   recalibration on ``--calib`` images + top-1 on ``--val`` images + the OPs lookup of the
   budget check), on real Fashion-MNIST.

    python bench/bench_supernet.py                   # all families
    python bench/bench_supernet.py --families mobilenet_m1 --genomes 5 --json out.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np
import torch
from sizes import FAMILIES, profile_kwargs
from torch import nn

from bnnlib import supernet
from bnnlib.evaluators import OneShotEvaluator


def step_times(sn, static, genome, x, y, steps: int) -> tuple[float, float]:
    """Median seconds per training step of the supernet (genome set each step) and the static model."""
    opt_sn = torch.optim.Adam(sn.parameters(), 1e-3)
    opt_st = torch.optim.Adam(static.parameters(), 1e-3)
    loss = nn.CrossEntropyLoss()
    times = {"supernet": [], "static": []}
    sn.train()
    static.train()
    for i in range(steps + 2):  # two warm-up rounds
        for kind in ("supernet", "static"):
            t = time.perf_counter()
            if kind == "supernet":
                sn.set_genome(genome)
                opt_sn.zero_grad(set_to_none=True)
                loss(sn(x), y).backward()
                opt_sn.step()
            else:
                opt_st.zero_grad(set_to_none=True)
                loss(static(x), y).backward()
                opt_st.step()
            if i >= 2:
                times[kind].append(time.perf_counter() - t)
    return statistics.median(times["supernet"]), statistics.median(times["static"])


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--sizes", default="cpu", help="profile whose model sizes to time (profiles/<name>.yaml)")
    parser.add_argument("--genomes", type=int, default=3)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--calib", type=int, default=500)
    parser.add_argument("--val", type=int, default=1000)
    parser.add_argument("--evals", type=int, default=5, help="candidates timed per family")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    from bnnlib.data import get_datasets

    train, val, _ = get_datasets("fashion_mnist", augment=False, subset=(2000, None, None))
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch, 1, 28, 28, generator=gen)
    y = torch.randint(0, 10, (args.batch,), generator=gen)
    sizes = {family: profile_kwargs(family, args.sizes) for family in args.families}
    rows = []
    for family in args.families:
        torch.manual_seed(0)
        sn = supernet.build(family, num_classes=10, in_channels=1, **sizes[family])
        rng = np.random.default_rng(0)
        ratios, sn_ms, st_ms = [], [], []
        for _ in range(args.genomes):
            genome = sn.sample(rng)
            static = sn.extract(genome)
            a, b = step_times(sn, static, genome, x, y, args.steps)
            ratios.append(a / b)
            sn_ms.append(1e3 * a)
            st_ms.append(1e3 * b)
        ev = OneShotEvaluator(sn, train, val, calib_images=args.calib, val_images=args.val)
        t = time.perf_counter()
        for _ in range(args.evals):
            genome = sn.sample(rng)
            sn.ops(genome, (1, 28, 28))
            ev(genome)
        per_min = 60 * args.evals / (time.perf_counter() - t)
        row = {"family": family, "supernet_step_ms": statistics.median(sn_ms),
               "static_step_ms": statistics.median(st_ms), "ratio_median": statistics.median(ratios),
               "ratio_max": max(ratios), "evaluations_per_min": per_min}
        rows.append(row)
        print(f"{family:13s} supernet {row['supernet_step_ms']:7.1f} ms  static {row['static_step_ms']:7.1f} ms  "
              f"ratio {row['ratio_median']:.2f} (max {row['ratio_max']:.2f})  "
              f"one-shot evaluations {per_min:5.1f}/min", flush=True)
    meta = {"machine": f"{platform.machine()}, {torch.get_num_threads()} threads", "torch": torch.__version__,
            "sizes": sizes,
            "batch": args.batch, "calib_images": args.calib, "val_images": args.val}
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "rows": rows}, f, indent=2)
    return rows


if __name__ == "__main__":
    main()

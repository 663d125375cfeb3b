"""Calibration run of the training engine (issue 3): VGG-small x0.25 on Fashion-MNIST.

Trains binary VGG-small at expansion 0.25 (32-32-64-64-128-128 channels, DoReFa binarization
as in Shen et al.) and its real-valued twin for 2 epochs on the full Fashion-MNIST training set
(60,000 images, no validation hold-out) with Adam, lr 1e-3, linear decay, batch 128, through
:func:`bnnlib.train.fit`, then reports test top-1/top-5 and wall time. Expected: binary >= 88%,
real >= 91% top-1, a few minutes each on a 2-core CPU.

    python bench/calibrate.py                  # both, ~5-10 min on 2 cores
    python bench/calibrate.py --json docs/calibration.json --models binary
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from bnnlib.data import dataset_info, get_datasets
from bnnlib.models import build
from bnnlib.train import Recipe, evaluate, fit
from bnnlib.utils import seed_everything

TARGETS = {"binary": 0.88, "real": 0.91}


def calibrate(binary: bool, args: argparse.Namespace, train, test) -> dict:
    info = dataset_info("fashion_mnist")
    seed_everything(args.seed)
    model = build("vgg_small", num_classes=info.num_classes, in_channels=info.in_channels,
                  expansion=0.25, binary=binary)  # fmt: skip
    t0 = time.perf_counter()
    recipe = Recipe(epochs=args.epochs, batch_size=args.batch_size, optimizer="adam", lr=1e-3,
                    schedule="linear")
    result = fit(model, train, recipe=recipe, seed=args.seed, out_dir=args.out_dir and
                 f"{args.out_dir}/{'binary' if binary else 'real'}",
                 progress=args.progress)  # fmt: skip
    train_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    metrics = evaluate(model, test, batch_size=512)
    eval_s = time.perf_counter() - t1
    kind = "binary" if binary else "real"
    return {
        "model": f"vgg_small x0.25 {kind}",
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "test_top1": metrics["top1"],
        "test_top5": metrics["top5"],
        "test_loss": metrics["loss"],
        "train_seconds": train_s,
        "eval_seconds": eval_s,
        "images_per_s": [round(r["images_per_s"]) for r in result.history],
        "target_top1": TARGETS[kind],
        "passed": metrics["top1"] >= TARGETS[kind],
    }


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models", nargs="+", default=["binary", "real"], choices=["binary", "real"]
    )
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--root", default="data/raw")
    parser.add_argument("--out-dir", default=None, help="keep checkpoints/metrics here")
    parser.add_argument("--json", default=None, help="write the results to this file")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    train, _, test = get_datasets("fashion_mnist", root=args.root, val_size=0)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"{len(train)} training / {len(test)} test images"
    )
    rows = []
    for kind in args.models:
        row = calibrate(kind == "binary", args, train, test)
        rows.append(row)
        print(f"{row['model']}: test top-1 {100 * row['test_top1']:.2f}% "
              f"(target >= {100 * row['target_top1']:.0f}%: {'ok' if row['passed'] else 'MISSED'}), "
              f"top-5 {100 * row['test_top5']:.2f}%, train {row['train_seconds']:.0f} s "
              f"({row['images_per_s']} img/s per epoch), eval {row['eval_seconds']:.1f} s",
              flush=True)  # fmt: skip
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"torch": torch.__version__, "threads": torch.get_num_threads(),
                       "rows": rows}, f, indent=1)  # fmt: skip
    return rows


if __name__ == "__main__":
    main()

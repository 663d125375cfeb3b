"""ImageNet input pipeline: decoded, augmented training images per second per CPU core.

Writes an ImageNet stand-in of JPEG files at ImageNet's typical size (``--width`` x
``--height``, default 500 x 375, quality 90, random pixels: a worst case for JPEG size), loads
it with ``bnnlib.data.get_datasets("imagenet")`` (resize 256, random 224 crop, flip, to tensor,
normalise: the paper profile's training transform) and times ``bnnlib.loader.make_loader``
batches with 0, 1, ..., ``--max-workers`` DataLoader workers (pinned memory on). The rate per
worker says how many CPU cores one GPU needs to be fed at the measured training rates
(``../shared/measurements/h200-step-rates.json``: binary ResNet-18 at 224, batch 256, about
10,300 images/s on one H200; binary MobileNet M1 about 4,300).

    python bench/bench_input.py                       # 0..2 workers (a 2-core machine)
    python bench/bench_input.py --max-workers 8 --json bench/results_input.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bnnlib import standin
from bnnlib.data import get_datasets
from bnnlib.loader import make_loader

#: measured training rates at 224x224 (images/s on one H200, batch 256, binary models)
GPU_RATES = {"resnet18 (Shen)": 10292, "mobilenet_m1 (Phan)": 4329}


def images_per_second(data, batch: int, workers: int, batches: int) -> float:
    """Training images per second through the loader (after one warm-up batch)."""
    loader = make_loader(data, batch, shuffle=True, seed=0, epoch=0, num_workers=workers,
                         pin_memory=torch.cuda.is_available())
    it = iter(loader)
    next(it)
    start = time.perf_counter()
    n = 0
    for _ in range(batches):
        x, _ = next(it)
        n += len(x)
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--width", type=int, default=500)
    parser.add_argument("--height", type=int, default=375)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)  # the main process only collates; each worker is one core
    per_class = (args.batches + 2) * args.batch // 4 + 1
    with tempfile.TemporaryDirectory() as tmp:
        standin.write_imagenet(tmp, classes=4, train_per_class=per_class, val_per_class=1,
                               sizes=((args.width, args.height),))
        sizes = [f.stat().st_size for f in Path(tmp, "train").rglob("*.JPEG")]
        train, _, _ = get_datasets("imagenet", root=tmp, val_size=4)
        rows = []
        for workers in range(args.max_workers + 1):
            rate = images_per_second(train, args.batch, workers, args.batches)
            rows.append({"workers": workers, "images_per_s": rate})
            print(f"workers {workers}: {rate:8.1f} images/s")
    base = rows[1]["images_per_s"] if len(rows) > 1 else rows[0]["images_per_s"]
    print(f"JPEG {args.width}x{args.height}, mean {np.mean(sizes) / 1e3:.0f} kB; "
          f"one worker: {base:.0f} images/s")
    for name, rate in GPU_RATES.items():
        print(f"  {name}: {rate} images/s on one H200 -> about {int(np.ceil(rate / base))} "
              "worker cores per GPU")
    if args.json:
        out = {"machine": platform.machine(), "cpus": os.cpu_count(), "torch": torch.__version__,
               "jpeg": [args.width, args.height], "mean_jpeg_bytes": float(np.mean(sizes)),
               "batch": args.batch, "rows": rows,
               "cores_per_gpu": {k: float(v / base) for k, v in GPU_RATES.items()}}
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

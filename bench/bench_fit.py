"""``fit``'s training images/s against the bare step loop it wraps (input pipeline overhead).

For each family at a profile's sizes and input (``--sizes``, see ``bench/sizes.py``), the
binary uniform model (expansion 1 / groups 1) is trained twice on the same in-memory images
(random pixels, the profile dataset's shape and augmentation):

- by :func:`bnnlib.train.fit` (the study's one training loop: seeded batch order, augmentation,
  schedule, running metrics; no checkpoint and no validation, so only the loop is timed),
  ``--epochs`` epochs, the first one (cudnn autotuning, first kernels) left out;
- by a bare loop of the same number of steps on one fixed batch already on the device
  (``bench_train.make_step``: the fastest the step itself can go).

The ratio ``fit / bare`` of images per second is the input pipeline's and the bookkeeping's
cost; the issue-13 target is at least 0.9 at the ``gpu`` sizes.

    python bench/bench_fit.py --device cuda --sizes gpu --images 20000 --json out.json
"""

from __future__ import annotations

import argparse
import json

import torch
from bench_supernet import random_images
from bench_train import batch as random_batch
from bench_train import device_name, make_step, sync, time_steps
from sizes import FAMILIES, profile_input, uniform_kwargs

from bnnlib.models import build
from bnnlib.registry import dataset_info
from bnnlib.train import Recipe, fit


def bench(family: str, args: argparse.Namespace) -> dict:
    device = torch.device(args.device)
    inp = profile_input(family, args.sizes)
    batch = args.batch or inp["batch_size"]
    kwargs = uniform_kwargs(family, args.sizes)
    data = random_images(args.images, inp["shape"], inp["classes"])
    data = data.with_augment(dataset_info(inp["dataset"]).default_augment)
    torch.manual_seed(0)
    model = build(family, binary=True, **kwargs)
    recipe = Recipe(epochs=args.epochs, batch_size=batch, optimizer="adam", lr=1e-3,
                    schedule="linear")
    result = fit(model, data, recipe=recipe, out_dir=None, device=device, progress=False,
                 distributed=False)
    later = result.history[1:] or result.history
    fit_img_s = sum(r["images_per_s"] for r in later) / len(later)
    steps = args.images // batch
    x, y = random_batch(inp["shape"], batch, inp["classes"], device)
    torch.manual_seed(0)
    step = make_step(build(family, binary=True, **kwargs).to(device), x, y, device)
    for _ in range(3):
        step()
    sync(device)
    bare_img_s = batch / min(time_steps(step, steps, device) for _ in range(max(1, args.epochs - 1)))
    return {"family": family, "input": list(inp["shape"]), "batch": batch,
            "augment": data.augment, "fit_img_s": fit_img_s, "bare_img_s": bare_img_s,
            "fit_over_bare": fit_img_s / bare_img_s}


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--sizes", default="cpu", help="profile whose model sizes and input to use")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--images", type=int, default=10000, help="training images per epoch")
    parser.add_argument("--epochs", type=int, default=3, help="fit's epochs (the first is not counted)")
    parser.add_argument("--batch", type=int, default=None, help="default: the profile's training batch")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, {device_name(device)}, sizes of profile {args.sizes!r}, "
          f"{args.images} images x {args.epochs} epochs")
    print("| family | input, batch | augment | fit img/s | bare loop img/s | fit / bare |")
    print("|---|---|---|---:|---:|---:|")
    rows = []
    for family in args.families:
        r = bench(family, args)
        rows.append(r)
        print(f"| {family} | {'x'.join(map(str, r['input']))}, {r['batch']} | {r['augment']} | "
              f"{r['fit_img_s']:,.0f} | {r['bare_img_s']:,.0f} | {r['fit_over_bare']:.2f} |",
              flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": device_name(device), "torch": torch.__version__,
                       "sizes": args.sizes, "rows": rows}, f, indent=1)
    return rows


if __name__ == "__main__":
    main()

"""Training-step throughput of every model family, binary vs its real-valued twin.

Measures what :func:`bnnlib.train.fit` does per step (forward, cross-entropy, backward, Adam
update) on Fashion-MNIST-shaped batches (1x28x28, 10 classes) at the sizes of the default CPU
profile, and prints a table with images/s and the binary/real step-time ratio. The target of
issue 3 is a ratio of at most 1.5 on CPU: the sign/straight-through machinery should cost
little next to the convolutions it feeds.

Binary and real steps are interleaved round by round and the median per-step time is kept, so
load from other processes on a shared machine affects both sides alike.

    python bench/bench_train.py                      # all families, batch 128
    python bench/bench_train.py --models vgg_small --steps 20 --json bench.json
    python bench/bench_train.py --profile vgg_small  # torch.profiler table of the binary step
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch
from sizes import FAMILIES, profile_kwargs
from torch import nn

from bnnlib.models import build


def model_kwargs(name: str, args: argparse.Namespace) -> dict:
    """Sizes of ``--sizes`` (default: the cpu profile; Fashion-MNIST, 1x28x28), with overrides.

    VGG-small / ResNet-18 at ``--expansion`` (default 4: the uniform-4x model, the widest the
    widths study trains); MobileNet modules at ``--groups`` (default 1: the densest module).
    """
    kw = {"num_classes": 10, "in_channels": 1, **profile_kwargs(name, args.sizes)}
    if args.width_mult is not None:
        kw["width_mult"] = args.width_mult
    if args.small_input and name != "vgg_small":
        kw["small_input"] = True
    if name in ("vgg_small", "resnet18"):
        kw["expansion"] = args.expansion
    else:
        kw["groups"] = args.groups
    return kw


def make_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    model.train()

    def step() -> None:
        loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def time_steps(step, n: int) -> float:
    """Median seconds per step over ``n`` steps."""
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench(name: str, args: argparse.Namespace) -> dict:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch_size, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (args.batch_size,), generator=g)
    steps, params = {}, {}
    for binary in (True, False):
        torch.manual_seed(0)
        model = build(name, binary=binary, **model_kwargs(name, args))
        params[binary] = sum(p.numel() for p in model.parameters())
        steps[binary] = make_step(model, x, y)
        for _ in range(args.warmup):
            steps[binary]()
    times = {True: [], False: []}
    for _ in range(args.rounds):
        for binary in (True, False):
            times[binary].append(time_steps(steps[binary], args.steps))
    t_bin, t_real = statistics.median(times[True]), statistics.median(times[False])
    return {
        "model": name,
        "kwargs": {
            k: v
            for k, v in model_kwargs(name, args).items()
            if k not in ("num_classes", "in_channels")
        },
        "params": params[True],
        "binary_ms": 1000 * t_bin,
        "real_ms": 1000 * t_real,
        "binary_img_s": args.batch_size / t_bin,
        "real_img_s": args.batch_size / t_real,
        "ratio": t_bin / t_real,
    }


def profile(name: str, args: argparse.Namespace) -> None:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch_size, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (args.batch_size,), generator=g)
    for binary in (True, False):
        model = build(name, binary=binary, **model_kwargs(name, args))
        step = make_step(model, x, y)
        for _ in range(args.warmup):
            step()
        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(args.steps):
                step()
        print(f"\n=== {name} binary={binary}: top ops by self CPU time ({args.steps} steps)")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=18))


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--sizes", default="cpu", help="profile whose model sizes to time (profiles/<name>.yaml)")
    parser.add_argument("--expansion", type=float, default=4.0, help="VGG-small / ResNet-18 (default: 4x)")
    parser.add_argument("--width-mult", type=float, default=None, help="override the profile's width_mult")
    parser.add_argument("--small-input", action="store_true", help="force stride-1 stems (ResNet, MobileNet)")
    parser.add_argument("--groups", type=int, default=1, help="MobileNet 3x3 groups")
    parser.add_argument("--steps", type=int, default=8, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    parser.add_argument(
        "--profile",
        default=None,
        choices=FAMILIES,
        help="print a torch.profiler table for this family instead",
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.profile:
        profile(args.profile, args)
        return []

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}, "
        f"batch {args.batch_size} x 1x28x28, median of {args.rounds} rounds x {args.steps} steps"
    )
    rows = []
    header = "| model | sizes | params | binary img/s | real img/s | binary/real step time |"
    print(header)
    print("|---|---|---:|---:|---:|---:|")
    for name in args.models:
        r = bench(name, args)
        rows.append(r)
        sizes = ", ".join(f"{k}={v}" for k, v in r["kwargs"].items())
        print(
            f"| {name} | {sizes} | {r['params'] / 1e6:.2f}M | {r['binary_img_s']:.0f} | "
            f"{r['real_img_s']:.0f} | {r['ratio']:.2f}x |",
            flush=True,
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "torch": torch.__version__,
                    "threads": torch.get_num_threads(),
                    "batch_size": args.batch_size,
                    "rows": rows,
                },
                f,
                indent=1,
            )
    return rows


if __name__ == "__main__":
    main()

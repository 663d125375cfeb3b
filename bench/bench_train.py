"""Training-step throughput of every model family, binary vs its real-valued twin, CPU or GPU.

Measures what :func:`bnnlib.train.fit` does per step (forward, cross-entropy, backward, Adam
update) at the model sizes *and input* of a profile (``--sizes``: ``cpu`` is Fashion-MNIST
1x28x28 at 1/16 of the papers' widths, ``gpu`` the papers' widths on 28x28, ``paper`` CIFAR-10
32x32 / ImageNet 224x224), and prints images/s, TFLOP/s and the binary/real step-time ratio.
On CUDA the step is fit's: channels_last, bfloat16 autocast, ``cudnn.benchmark``; the binary
model is timed twice there, with the fused quantizer kernels (:mod:`bnnlib.fused`) and with
the eager formulas (``BNNLIB_FUSED=0``), so the fusion's gain is measured in the same run.

Targets: binary/real at most 1.5 on CPU (issue 3), at most 1.2 on a GPU (issue 13).
Variants are interleaved round by round and the median of each is kept, so load from other
processes on a shared machine affects every side alike. "TFLOP/s" counts every multiply-add of
the model as a real one: 6 x MACs x batch / step time (forward 2, backward 4).

    python bench/bench_train.py                      # all families, cpu sizes, batch 128
    python bench/bench_train.py --device cuda --sizes gpu --batch-size 1024 --json out.json
    python bench/bench_train.py --models vgg_small --expansion 1 4 --steps 20
    python bench/bench_train.py --profile vgg_small  # torch.profiler table of the binary step
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import time

import torch
from sizes import FAMILIES, profile_input, profile_kwargs
from torch import nn

from bnnlib import flops, fused
from bnnlib.models import build


def model_kwargs(name: str, args: argparse.Namespace, size: float | None = None) -> dict:
    """Sizes of ``--sizes`` (default: the cpu profile), with overrides; ``size`` is the
    expansion (VGG-small / ResNet-18; default 4: the uniform-4x model, the widest the widths
    study trains) or the group count (MobileNet; default 1: the densest module)."""
    inp = profile_input(name, args.sizes)
    kw = {"num_classes": inp["classes"], "in_channels": inp["shape"][0],
          **profile_kwargs(name, args.sizes)}
    if args.width_mult is not None:
        kw["width_mult"] = args.width_mult
    if args.small_input and name != "vgg_small":
        kw["small_input"] = True
    if name in ("vgg_small", "resnet18"):
        kw["expansion"] = float(size if size is not None else args.expansion[0])
    else:
        kw["groups"] = int(size if size is not None else args.groups[0])
    return kw


def sizes_of(name: str, args: argparse.Namespace) -> list:
    return list(args.expansion) if name in ("vgg_small", "resnet18") else list(args.groups)


@contextlib.contextmanager
def environ(name: str, value: str):
    """Environment variable ``name`` set to ``value`` for the block, then restored (bnnlib's
    switches, ``BNNLIB_FUSED`` and ``BNNLIB_DENSE_GROUPS``, are read at every call)."""
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            del os.environ[name]
        else:
            os.environ[name] = old


def fused_kernels(on: bool):
    """``BNNLIB_FUSED`` set for the block (the quantizers read it at every call)."""
    return environ("BNNLIB_FUSED", "1" if on else "0")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def batch(shape, batch_size: int, classes: int, device: torch.device):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch_size, *shape, generator=g).to(device)
    y = torch.randint(0, classes, (batch_size,), generator=g).to(device)
    if device.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    return x, y


def make_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device=None):
    """fit's training step: Adam, cross-entropy; on CUDA channels_last and bf16 autocast."""
    device = torch.device(device) if device is not None else x.device
    if device.type == "cuda":
        model.to(device, memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    amp = (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda"
           else contextlib.nullcontext())

    def step() -> None:
        with amp:
            loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def time_steps(step, n: int, device: torch.device | None = None) -> float:
    """Seconds per step over ``n`` back-to-back steps (one synchronisation at each end)."""
    device = device or torch.device("cpu")
    sync(device)
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    sync(device)
    return (time.perf_counter() - t0) / n


def bench(name: str, args: argparse.Namespace, size: float | None = None) -> dict:
    device = torch.device(args.device)
    inp = profile_input(name, args.sizes)
    batch_size = args.batch_size or inp["batch_size"]
    x, y = batch(inp["shape"], batch_size, inp["classes"], device)
    kwargs = model_kwargs(name, args, size)
    # variant -> (binary, fused kernels)
    variants = {"binary": (True, True), "real": (False, True)}
    if device.type == "cuda" and fused.enabled():
        variants["binary_eager"] = (True, False)
    steps, params, macs, ops = {}, {}, {}, {}
    for variant, (binary, on) in variants.items():
        torch.manual_seed(0)
        model = build(name, binary=binary, **kwargs)
        params[variant] = sum(p.numel() for p in model.parameters())
        counted = flops.count(model, inp["shape"])
        macs[variant], ops[variant] = counted.fp_ops, counted.ops
        steps[variant] = make_step(model.to(device), x, y, device)
        with fused_kernels(on):
            for _ in range(args.warmup):
                steps[variant]()
    times = {v: [] for v in variants}
    for _ in range(args.rounds):
        for variant, (_, on) in variants.items():
            with fused_kernels(on):
                times[variant].append(time_steps(steps[variant], args.steps, device))
    t = {v: statistics.median(ts) for v, ts in times.items()}
    row = {
        "model": name,
        "kwargs": {k: v for k, v in kwargs.items() if k not in ("num_classes", "in_channels")},
        "input": list(inp["shape"]),
        "batch": batch_size,
        "device": device_name(device),
        "params": params["binary"],
        "macs": macs["binary"],
        "ops": ops["binary"],  # Bi-Real OPs (bnnlib.flops): what bnnlib.cost interpolates in
        "binary_ms": 1000 * t["binary"],
        "real_ms": 1000 * t["real"],
        "binary_img_s": batch_size / t["binary"],
        "real_img_s": batch_size / t["real"],
        "binary_tflops": 6 * macs["binary"] * batch_size / t["binary"] / 1e12,
        "real_tflops": 6 * macs["real"] * batch_size / t["real"] / 1e12,
        "ratio": t["binary"] / t["real"],
    }
    if "binary_eager" in t:
        row["binary_eager_ms"] = 1000 * t["binary_eager"]
        row["eager_ratio"] = t["binary_eager"] / t["real"]
    return row


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def profile(name: str, args: argparse.Namespace) -> None:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    device = torch.device(args.device)
    inp = profile_input(name, args.sizes)
    x, y = batch(inp["shape"], args.batch_size or inp["batch_size"], inp["classes"], device)
    for binary in (True, False):
        model = build(name, binary=binary, **model_kwargs(name, args)).to(device)
        step = make_step(model, x, y, device)
        for _ in range(args.warmup):
            step()
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
        with torch_profile(activities=activities) as prof:
            for _ in range(args.steps):
                step()
        print(f"\n=== {name} binary={binary}: top ops by self CPU time ({args.steps} steps)")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=18))


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--batch-size", type=int, default=None, help="default: the profile's training batch")
    parser.add_argument("--sizes", default="cpu", help="profile whose model sizes and input to time (profiles/<name>.yaml)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--expansion", type=float, nargs="+", default=[4.0],
                        help="VGG-small / ResNet-18 expansions, one row each (default: 4x)")
    parser.add_argument("--width-mult", type=float, default=None, help="override the profile's width_mult")
    parser.add_argument("--small-input", action="store_true", help="force stride-1 stems (ResNet, MobileNet)")
    parser.add_argument("--groups", type=int, nargs="+", default=[1], help="MobileNet 3x3 groups, one row each")
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
    device = torch.device(args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("--device cuda: no CUDA device is visible")
        torch.backends.cudnn.benchmark = True  # as fit does
    if args.profile:
        profile(args.profile, args)
        return []

    print(
        f"torch {torch.__version__}, {device_name(device)}, sizes of profile {args.sizes!r}, "
        f"median of {args.rounds} rounds x {args.steps} steps"
        + (f", fused quantizer kernels {'on' if fused.enabled() else 'unavailable'}"
           if device.type == "cuda" else "")
    )
    rows = []
    eager = device.type == "cuda" and fused.enabled()
    print("| model | sizes | input, batch | binary img/s | real img/s | binary TFLOP/s | binary/real step"
          + (" | eager binary/real |" if eager else " |"))
    print("|---|---|---|---:|---:|---:|---:|" + ("---:|" if eager else ""))
    for name in args.models:
        for size in sizes_of(name, args):
            r = bench(name, args, size)
            rows.append(r)
            sizes = ", ".join(f"{k}={v}" for k, v in r["kwargs"].items())
            shape = "x".join(str(v) for v in r["input"])
            print(
                f"| {name} | {sizes} | {shape}, {r['batch']} | {r['binary_img_s']:,.0f} | "
                f"{r['real_img_s']:,.0f} | {r['binary_tflops']:.1f} | {r['ratio']:.2f}x |"
                + (f" {r['eager_ratio']:.2f}x |" if "eager_ratio" in r else ""),
                flush=True,
            )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "torch": torch.__version__,
                    "device": device_name(device),
                    "threads": torch.get_num_threads(),
                    "sizes": args.sizes,
                    "fused_kernels": (None if device.type != "cuda" else
                                      fused.disabled_reason or ("on" if fused.enabled() else "unavailable")),
                    "rows": rows,
                },
                f,
                indent=1,
            )
    return rows


if __name__ == "__main__":
    main()

"""Where a one-shot candidate's time and a training step's time go: torch.profiler, by kind of op.

Two questions of issue 13 were left open by timing alone (docs/gpu.md):

- **One-shot scoring** (``--what oneshot``): M1's supernet scores 343 candidates per minute on
  an H200 against a target of 1,000. Is a candidate bound by its convolutions' arithmetic, by
  the memory traffic of the elementwise work around them (sign, scale, BN, activation, casts),
  or by the host (Python and kernel launches leaving the GPU idle)?
- **Binary against real-valued training steps** (``--what step``): at 28x28 the binary step
  takes 1.45-1.87x its real-valued twin against a target of 1.2x. Which ops does the binary
  model add?

For each family at a profile's sizes this runs the stage's own code (``OneShotEvaluator`` on
candidates drawn as stage 03 draws them, ``bench/bench_supernet.py``; or fit's step,
``bench/bench_train.py``) under ``torch.profiler`` and reports:

- the wall seconds per candidate (or step) while profiled, and without the profiler;
- the time by kind of op (convolution/matmul, batch norm, quantizer, pooling, elementwise,
  copy/cast, reduction/indexing, other), from the device's kernels on CUDA, from the operators' own
  (self) CPU time on the CPU. The kinds are read off the names (``KINDS``, first match wins);
  the top ops by name are listed too, so the reading can be checked;
- on CUDA, the **busy fraction**: the kernels' summed time over the wall time. Near 1 the
  device is the bound (then the kinds say which work); well below 1 the host is (launches,
  Python, synchronisation), and faster kernels would not help;
- kernels launched per candidate (per step).

Chrome traces for ``chrome://tracing`` / Perfetto with ``--trace DIR``. ``--group-conv grouped
dense`` profiles the one-shot scoring twice, the second time with the evaluator's
``group_conv="dense"`` (``bnnlib.dynamic``: each grouped convolution run as a dense one with a
block-diagonal weight; the search's ``group_conv`` setting), so the two are compared on the same
candidates in one run. The plain timing runs first, then as many other candidates under the
profiler, most of whose (layer, groups) convolution shapes the plain pass has met already:
where the plain time per candidate is far above the profiled one (which carries the profiler's
overhead), meeting new shapes (cuDNN choosing kernels on the host) is the cost.

    python bench/profile_ops.py --what oneshot --device cuda --sizes gpu --families mobilenet_m1 \
        --calib 1000 --val 5000 --eval-batch 5000 --json out.json
    python bench/profile_ops.py --what step --device cuda --sizes gpu --families vgg_small
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections import defaultdict

import numpy as np
import torch
from bench_supernet import random_images, search_candidates
from bench_train import batch as random_batch
from bench_train import device_name, make_step, sync
from sizes import FAMILIES, profile_input, profile_kwargs, uniform_kwargs

from bnnlib import settings, supernet
from bnnlib.evaluators import OneShotEvaluator
from bnnlib.models import build

#: kinds of op, matched in this order against the lower-cased op or kernel name
KINDS: list[tuple[str, re.Pattern]] = [
    ("batch norm", re.compile(r"batch_?norm|bn_fw|bn_bw|welford")),
    # bnnlib.fused's: fwd, bwd; not "unsigned" in a cuDNN kernel's template arguments
    ("quantizer", re.compile(r"(?<!un)sign|triton|^fwd\b|^bwd\b|^fwd_|^bwd_")),
    ("conv/matmul", re.compile(r"conv|gemm|xmma|cutlass|cudnn|mkldnn|winograd|dgrad|wgrad|"
                               r"fprop|addmm|matmul|\bmm\b|linear")),
    ("pooling", re.compile(r"pool")),
    ("copy/cast", re.compile(r"copy|_to_copy|contiguous|clone|\bcat\b|catarray|nchw|nhwc|"
                             r"transpose|permute|diagonal")),
    ("reduction/indexing", re.compile(r"reduce|\bsum\b|mean|topk|sort|softmax|nll|entropy|"
                                      r"index|gather|scatter|\bmax\b|\bmin\b|norm")),
    ("elementwise", re.compile(r"elementwise|mul|add|sub|div|clamp|abs|where|relu|prelu|"
                               r"hardtanh|tanh|sigmoid|threshold|\bge\b|\bgt\b|\ble\b|\blt\b|\beq\b|neg|"
                               r"fill|zero|pow|sqrt|lerp|foreach|adam")),
]
OTHER = "other"
#: CUDA runtime/driver calls counted as kernel launches
LAUNCHES = re.compile(r"cudaLaunchKernel|cuLaunchKernel|cudaLaunchCooperativeKernel")


def kind_of(name: str) -> str:
    """The kind of an op or kernel ``name`` (``KINDS``; else ``"other"``)."""
    low = name.lower()
    for kind, pattern in KINDS:
        if pattern.search(low):
            return kind
    return OTHER


def _self_device_us(event) -> float:
    for attr in ("self_device_time_total", "self_cuda_time_total"):
        if hasattr(event, attr):
            return float(getattr(event, attr))
    return 0.0


def summarize(events, wall_s: float, count: int, device: torch.device, top: int = 12) -> dict:
    """Shares by kind, the top ops, busy fraction and launches per item from the profiler's
    averaged ``events`` (``prof.key_averages()``) over ``count`` items in ``wall_s`` seconds."""
    events = list(events)
    launches = sum(e.count for e in events if LAUNCHES.search(e.key))
    basis = "operators' self CPU time"
    if device.type == "cuda":
        # the kernels (device events) carry the device time, by kernel name
        timed = [(e, _self_device_us(e)) for e in events
                 if str(getattr(e, "device_type", "")).endswith("CUDA")]
        basis = "device kernels"
        if not any(us > 0 for _, us in timed):  # a profiler that lists no kernel events
            timed = [(e, _self_device_us(e)) for e in events]
            basis = "device time of the operators that launched the kernels"
    else:
        timed = [(e, float(e.self_cpu_time_total)) for e in events]
    by_name: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)
    for e, us in timed:
        if us > 0:
            by_name[e.key] += us
            calls[e.key] += e.count
    total_us = sum(by_name.values())
    kinds = {k: 0.0 for k, _ in KINDS} | {OTHER: 0.0}
    for name, us in by_name.items():
        kinds[kind_of(name)] += us
    shares = {k: (v / total_us if total_us else 0.0) for k, v in kinds.items()}
    ranked = sorted(by_name.items(), key=lambda kv: -kv[1])[:top]
    out = {
        "time_basis": basis,
        "profiled_s_per_item": wall_s / count,
        "op_s_per_item": total_us * 1e-6 / count,
        "shares": shares,
        "top": [{"name": n, "kind": kind_of(n), "share": us / total_us,
                 "ms_per_item": us * 1e-3 / count, "calls_per_item": calls[n] / count}
                for n, us in ranked],
    }
    if device.type == "cuda":
        out["busy_fraction"] = total_us * 1e-6 / wall_s if wall_s > 0 else 0.0
        out["launches_per_item"] = launches / count
    return out


def _profiled(run_one, count: int, device: torch.device, trace: str | None, tag: str):
    """``run_one(i)`` for ``i < count`` timed plainly, then again under the profiler."""
    from torch.profiler import ProfilerActivity, profile

    sync(device)
    t = time.perf_counter()
    for i in range(count):
        run_one(i)
    sync(device)
    plain = (time.perf_counter() - t) / count
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        sync(device)
        t = time.perf_counter()
        for i in range(count):
            run_one(count + i)
        sync(device)
        wall = time.perf_counter() - t
    if trace:
        import os

        os.makedirs(trace, exist_ok=True)
        prof.export_chrome_trace(os.path.join(trace, f"{tag}.json"))
    return plain, wall, prof.key_averages()


def profile_oneshot(family: str, args, device: torch.device, mode: str = "grouped") -> dict:
    """The one-shot evaluator of stage 03 on ``args.evals`` candidates of ``family``, with the
    dynamic layers' grouped convolutions run as ``mode`` (``grouped`` or ``dense``)."""
    inp = profile_input(family, args.sizes)
    torch.manual_seed(0)
    sn = supernet.build(family, num_classes=inp["classes"], in_channels=inp["shape"][0],
                        **profile_kwargs(family, args.sizes)).to(device)
    if device.type == "cuda":
        sn.to(memory_format=torch.channels_last)
    images = random_images(args.calib + args.val, inp["shape"], inp["classes"])
    calib = torch.utils.data.Subset(images, range(args.calib))
    val = torch.utils.data.Subset(images, range(args.calib, args.calib + args.val))
    rng = np.random.default_rng(0)
    pool, drawn = search_candidates(family, sn, inp["shape"], args.sizes, rng,
                                    2 * args.evals + 1)
    ev = OneShotEvaluator(sn, calib, val, calib_images=None, val_images=None,
                          batch_size=args.eval_batch, group_conv=mode)

    def one(i: int) -> None:
        sn.ops(pool[i], inp["shape"])  # the budget check of the search
        ev(pool[i])

    ev(pool[-1])  # warm-up: first kernels
    plain, wall, events = _profiled(one, args.evals, device, args.trace, f"oneshot_{family}_{mode}")
    row = summarize(events, wall, args.evals, device)
    row.update(family=family, what="oneshot", group_conv=mode, candidates=drawn,
               plain_s_per_item=plain,
               per_min=60.0 / plain, images_per_s=(args.calib + args.val) / plain)
    return row


def profile_step(family: str, args, device: torch.device) -> list[dict]:
    """fit's training step of ``family``'s uniform binary model and its real-valued twin."""
    inp = profile_input(family, args.sizes)
    bs = args.batch or inp["batch_size"]
    x, y = random_batch(inp["shape"], bs, inp["classes"], device)
    rows = []
    for binary in (True, False):
        torch.manual_seed(0)
        model = build(family, binary=binary, **uniform_kwargs(family, args.sizes)).to(device)
        step = make_step(model, x, y, device)
        for _ in range(2):
            step()
        plain, wall, events = _profiled(lambda _i, step=step: step(), args.steps, device, args.trace,
                                        f"step_{family}_{'binary' if binary else 'real'}")
        row = summarize(events, wall, args.steps, device)
        row.update(family=family, what="step", binary=binary, batch=bs,
                   plain_s_per_item=plain, images_per_s=bs / plain)
        rows.append(row)
    return rows


def print_row(row: dict) -> None:
    label = (f"{row['family']} one-shot candidate ({row['candidates']}; {row['group_conv']} "
             "convolutions)" if row["what"] == "oneshot"
             else f"{row['family']} {'binary' if row['binary'] else 'real-valued'} step, "
                  f"batch {row['batch']}")
    head = f"== {label}: {1e3 * row['plain_s_per_item']:.1f} ms each"
    if "per_min" in row:
        head += f" ({row['per_min']:.0f}/min)"
    head += f", {1e3 * row['profiled_s_per_item']:.1f} ms profiled"
    if "busy_fraction" in row:
        head += (f"; device busy {100 * row['busy_fraction']:.0f}% of the wall, "
                 f"{row['launches_per_item']:.0f} launches each")
    print(head)
    print(f"   time by kind ({row['time_basis']}): "
          + ", ".join(f"{k} {100 * v:.0f}%" for k, v in sorted(row["shares"].items(),
                                                                 key=lambda kv: -kv[1]) if v > 0))
    for t in row["top"]:
        print(f"   {100 * t['share']:5.1f}%  {t['ms_per_item']:8.3f} ms  x{t['calls_per_item']:<6.1f} "
              f"[{t['kind']}] {t['name'][:90]}")


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--what", choices=("oneshot", "step"), nargs="+", default=["oneshot"])
    parser.add_argument("--families", nargs="+", default=["mobilenet_m1"], choices=FAMILIES)
    parser.add_argument("--sizes", default="cpu", help="profile whose sizes to use (profiles/<name>.yaml)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--calib", type=int, default=1000, help="BN recalibration images per candidate")
    parser.add_argument("--val", type=int, default=5000, help="scoring images per candidate")
    parser.add_argument("--eval-batch", type=int, default=5000)
    parser.add_argument("--evals", type=int, default=6, help="candidates profiled (and as many timed plainly)")
    parser.add_argument("--steps", type=int, default=10, help="training steps profiled (and timed plainly)")
    parser.add_argument("--batch", type=int, default=None, help="training batch (default: the profile's)")
    parser.add_argument("--group-conv", nargs="+", choices=("grouped", "dense"), default=["grouped"],
                        help="one-shot scoring's grouped convolutions as grouped kernels and/or "
                             "as dense ones with a block-diagonal weight (one row each)")
    parser.add_argument("--trace", default=None, help="directory for Chrome traces")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("--device cuda: no CUDA device is visible")
        torch.backends.cudnn.benchmark = True  # as fit does (the evaluator turns it off itself)
    meta = {"machine": device_name(device), "torch": torch.__version__, "sizes": args.sizes,
            "calib_images": args.calib, "val_images": args.val, "eval_batch": args.eval_batch}
    print(f"torch {meta['torch']}, {meta['machine']}, sizes of profile {args.sizes!r}")
    rows: list[dict] = []
    for family in args.families:
        for what in args.what:
            # only the groups study's supernets have grouped convolutions
            modes = args.group_conv if settings.study_of(family) == "groups" else ["grouped"]
            new = ([profile_oneshot(family, args, device, mode) for mode in modes]
                   if what == "oneshot" else profile_step(family, args, device))
            for row in new:
                print_row(row)
            rows += new
            if args.json:  # after every part: a run stopped later keeps what it measured
                with open(args.json, "w") as f:
                    json.dump({"meta": meta, "rows": rows}, f, indent=2)
    return rows


if __name__ == "__main__":
    main()

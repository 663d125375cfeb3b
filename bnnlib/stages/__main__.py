"""Run one stage for one family from the command line, in one process or under ``torchrun``.

    python -m bnnlib.stages STAGE FAMILY [--params params.yaml] [--runs-dir runs]
        [--metrics-dir metrics] [--upstream-dir DIR] [--set KEY=VALUE ...] [--overrides FILE]

``--set`` takes flat names of the stage's settings or dotted keys (``--set epochs=2``,
``--set groups.train.lr=0.002``); values are read as YAML. ``--overrides`` a JSON file of the
same. Under ``torchrun`` (``WORLD_SIZE`` > 1) every process joins the process group and runs
the stage data-parallel (:mod:`bnnlib.distributed`). This is what a notebook stage launches
when ``devices`` asks for several processes, and what each machine of a multi-machine run
starts itself::

    torchrun --nnodes=2 --node-rank=0 --nproc-per-node=8 --rdzv-backend=c10d \\
        --rdzv-endpoint=HOST:29400 --rdzv-id=uniform-resnet18 \\
        -m bnnlib.stages uniform resnet18 --params params.yaml --runs-dir runs
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys

import yaml

from .. import distributed as dist
from .. import settings

TRAINING_STAGES = ("uniform", "supernet", "search", "retrain", "proxy")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bnnlib.stages", description=__doc__.split("\n")[0])
    parser.add_argument("stage", choices=TRAINING_STAGES)
    parser.add_argument("family")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--root", default=None, help="repository root (default: found from here)")
    parser.add_argument("--runs-dir", default="runs")
    parser.add_argument("--metrics-dir", default="metrics")
    parser.add_argument("--upstream-dir", default=None)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--overrides", default=None, metavar="FILE.json")
    return parser.parse_args(argv)


def overrides_of(args: argparse.Namespace) -> dict:
    """The overrides of ``--overrides`` then ``--set`` (``ValueError`` on a malformed pair)."""
    values = {}
    if args.overrides:
        with open(args.overrides, encoding="utf-8") as fh:
            values.update(json.load(fh))
    for pair in args.set:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--set {pair!r} is not KEY=VALUE (e.g. --set epochs=2)")
        values[key] = yaml.safe_load(raw)
    return values


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    cfg = settings.view(args.stage, args.family, args.params, overrides_of(args),
                        runs_dir=args.runs_dir, metrics_dir=args.metrics_dir,
                        upstream_dir=args.upstream_dir, root=args.root)
    distributed = dist.init()
    try:
        importlib.import_module(f"bnnlib.stages.{args.stage}").run(cfg)
    finally:
        if distributed:
            dist.barrier()
            import torch

            torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())

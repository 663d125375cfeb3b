"""Run by ``torchrun`` from ``tests/test_distributed.py``: the data-parallel side of each check.

``python tests/ddp_worker.py OUT`` under ``torchrun --nproc-per-node=2`` (gloo, CPU). Every
scenario is built by :mod:`ddp_cases` so that the test process builds the one-process twin the
same way; rank 0 saves what the test compares (weights, histories, search results) to OUT.
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ddp_cases  # noqa: E402

from bnnlib import distributed as dist  # noqa: E402


def main(out: Path) -> None:
    assert dist.init(), "expected to be started by torchrun with WORLD_SIZE > 1"
    torch.set_num_threads(1)
    results = {}
    for name, case in ddp_cases.CASES.items():
        results[name] = case(out / name)
    if dist.is_main():
        torch.save({"world_size": dist.world_size(), **results}, out / "ddp.pt")
    dist.barrier()
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))

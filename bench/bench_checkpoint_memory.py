"""Host memory of writing one checksummed checkpoint: ``bnnlib.utils.save_checksummed`` against
joining the header and the payload into one bytes object first (what it did before).

A run state of ``--mb`` megabytes (one float32 tensor) is saved once per variant, each in a
fresh Python process so that the peaks are apart; the printed number is the peak resident
memory above the process's peak just before the save (``VmHWM`` of ``/proc/self/status``,
Linux; not ``getrusage``, whose peak survives the exec from a large parent process). The
4x-wide ResNet-18 of the paper profile has a 1.5 GB run state (weights, SGD momentum).

    python bench/bench_checkpoint_memory.py --mb 400
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile

CHILD = r"""
import hashlib, io, sys
import torch
from bnnlib import utils


def hwm_kib():  # this process's peak resident memory (per address space: reset by exec)
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))


mb, variant, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
state = {"w": torch.ones(mb * 2**20 // 4)}  # ones: every page of the state is resident
before = hwm_kib()
if variant == "joined":
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    digest = hashlib.sha256(payload).hexdigest().encode()
    utils.atomic_write_bytes(path, utils._MAGIC + digest + b"\n" + payload, fsync=False)
else:
    utils.save_checksummed(state, path)
print((hwm_kib() - before) // 1024)
"""


def peak_mb(mb: int, variant: str) -> int:
    """Peak MB above the state itself while ``variant`` saves it (in a fresh process)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([sys.executable, "-c", CHILD, str(mb), variant, f"{tmp}/last.pt"],
                             capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=400, help="size of the run state (MB)")
    args = parser.parse_args()
    joined, chunks = peak_mb(args.mb, "joined"), peak_mb(args.mb, "chunks")
    print(f"run state {args.mb} MB: peak above it {joined} MB joined, {chunks} MB as chunks "
          f"(save_checksummed); ratio {chunks / joined:.2f}")


if __name__ == "__main__":
    main()

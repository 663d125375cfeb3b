"""The ``data`` stage: put the profile's dataset under ``data/raw`` so that DVC tracks it.

    python -m bnnlib.stages.data [params.yaml]

validates the whole settings file first (so a bad ``params.yaml`` stops ``dvc repro`` within
seconds), then copies or downloads ``data.prepare``. Fashion-MNIST: the four IDX files are
copied from wherever ``bnnlib.data`` finds them (the Debian package, or a torchvision download)
into ``data/raw/fashion_mnist``. CIFAR-10: torchvision's download into ``data/raw/cifar10``.
ImageNet is read in place from the family's ``data_root``.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from .. import data, fashion_mnist
from ..settings import SettingsError, load, repo_root


def prepare(dataset: str = "fashion_mnist", root: str | Path = "data/raw") -> Path:
    """Copy or download ``dataset`` under ``root``; returns the folder DVC tracks."""
    root = Path(root)
    if dataset == "fashion_mnist":
        target = root / "fashion_mnist"
        for path in fashion_mnist.locate(root).values():  # target itself when complete
            if path.parent != target:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target / path.name)
        return target
    if dataset == "cifar10":
        data.get_datasets("cifar10", root=root / "cifar10")
        return root / "cifar10"
    data.dataset_info(dataset)  # validates the name
    return root


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        params = load(argv[0] if argv else "params.yaml")
    except SettingsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(prepare(params.data.prepare, repo_root() / "data/raw"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

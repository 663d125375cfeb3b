"""The ``paper`` profile end to end, offline, on stand-in data in the papers' formats.

``profiles/paper.yaml`` as committed, with only sizes overridden (:data:`SMOKE_SCALE`: epochs,
image counts, search and proxy sizes, one training seed and one search seed); everything else
is the paper profile's: ImageNet at 224x224 for the MobileNets and ResNet-18 (1000-way
classifiers), CIFAR-10 at 32x32 for VGG-small, the papers' widths, optimizers, learning rates,
batch sizes and schedules, the absolute MaxFLOPs budgets of Phan et al. Table 2, Shen et al.'s
4x supernet trained as is with fine-tuned candidates. The data are :mod:`bnnlib.standin` files
(a CIFAR-10 pickle folder and an ImageNet JPEG folder tree). Every stage of every family runs,
then the tables stage; the numbers mean nothing, the code paths are the paper profile's.

The checkpoints of a stage are deleted once no later stage reads them (a 4x-wide ResNet-18's is
1.5 GB; last.pt and best.pt of every item made about 30 GB when they were all kept). The module
is marked ``paper_profile`` and left out of ``make test`` (under 10 minutes): ``make
test-paper`` runs it, and so does CI after ``make test``. The runs are deleted when the module
ends.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from bnnlib import settings, standin
from bnnlib.registry import GROUP_MODELS
from bnnlib.stages import proxy, retrain, search, supernet, tables, uniform

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.paper_profile

FAMILIES = ("mobilenet_m1", "mobilenet_m2", "mobilenet_m3", "vgg_small", "resnet18")
STAGES = (uniform, supernet, search, proxy, retrain)

#: the only settings changed from profiles/paper.yaml: sizes
SMOKE_SCALE = {
    "seeds": [0], "search_seeds": [0],
    "data.val_size": 10,
    **{f"{section}.epochs.{stage}": 1
       for section in ("groups", "widths.families.vgg_small", "widths.families.resnet18")
       for stage in ("uniform", "supernet", "retrain")},
    "groups.epochs.fig5": 2,  # 100 in the profile: Figure 5's runs apart from the retraining's
    **{f"{study}.search.{key}": value for study in ("groups", "widths") for key, value in
       {"population": 3, "topk": 2, "crossovers": 1, "mutations": 1, "iterations": 2,
        "calib_images": 6, "val_images": 6}.items()},
    "widths.search.finetune_epochs": 1,
    "widths.families.resnet18.search_per_class": 2,  # 50 in the profile: 6 stand-in images a class
    **{f"{study}.proxy.{key}": value for study in ("groups", "widths") for key, value in
       {"genomes": 2, "epochs": 1, "train_images": 8, "test_images": 6}.items()},
}


def _set(raw: dict, dotted: str, value) -> None:
    *path, last = dotted.split(".")
    for key in path:
        raw = raw[key]
    assert last in raw, f"{dotted} is not in profiles/paper.yaml"
    raw[last] = value


@pytest.fixture(scope="module")
def paper_root(tmp_path_factory):
    """A repository root with the paper profile at smoke scale and the stand-in datasets where
    the profile expects them (``data/raw/cifar10``, ``data/imagenet``)."""
    root = tmp_path_factory.mktemp("paper")
    raw = yaml.safe_load((ROOT / "profiles/paper.yaml").read_text())
    for dotted, value in SMOKE_SCALE.items():
        _set(raw, dotted, value)
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    (root / "dvc.yaml").write_text("stages: {}\n")
    standin.write_cifar10(root / "data/raw/cifar10", train_per_class=3, test_per_class=1)
    standin.write_imagenet(root / "data/imagenet", classes=3, train_per_class=6, val_per_class=2)
    yield root
    shutil.rmtree(root, ignore_errors=True)  # the results and search states


def _view(root: Path, stage: str, family: str):
    return settings.view(stage, family, "params.yaml", root=root)


#: stage -> the stages whose checkpoints no later stage reads once it has run (the search and
#: the proxy read the supernet's; the retraining reads only the search's results)
DONE_WITH_CHECKPOINTS = {"uniform": ("uniform",), "proxy": ("proxy", "supernet"),
                         "retrain": ("retrain",)}


def _drop_checkpoints(root: Path, stage: str, family: str) -> int:
    """Delete the ``*.pt`` files a finished stage left for ``family`` (its results stay);
    returns the bytes freed. Keeps the disk this module needs to a few GB: a 4x-wide
    ResNet-18's checkpoint at 1000 classes is 1.5 GB."""
    freed = 0
    for path in (root / "runs" / stage / family).rglob("*.pt"):
        freed += path.stat().st_size
        path.unlink()
    return freed


@pytest.fixture(scope="module")
def paper_runs(paper_root):
    """Every stage of every family, in pipeline order; ``{family: {stage: result}}``."""
    out = {}
    for family in FAMILIES:
        out[family] = {}
        for module in STAGES:
            stage = module.__name__.rsplit(".", 1)[-1]
            out[family][stage] = module.run(_view(paper_root, stage, family))
            for done in DONE_WITH_CHECKPOINTS.get(stage, ()):
                _drop_checkpoints(paper_root, done, family)
    return out


def test_paper_profile_reads_the_papers_formats(paper_root):
    """The paper profile's views name the real datasets; they load from the stand-ins."""
    from bnnlib.stages.common import datasets

    cifar = _view(paper_root, "uniform", "vgg_small")
    imagenet = _view(paper_root, "uniform", "resnet18")
    assert (cifar.dataset, imagenet.dataset) == ("cifar10", "imagenet")
    assert cifar.width_mult == imagenet.width_mult == 1.0 and not imagenet.small_input
    train, val, test = datasets(imagenet)
    assert train[0][0].shape == (3, 224, 224) and len(val) == 10 and len(test) == 6
    assert datasets(cifar)[0][0][0].shape == (3, 32, 32)


@pytest.mark.parametrize("family", FAMILIES)
def test_paper_profile_stages(paper_runs, paper_root, family):
    """Every stage wrote its results for ``family`` under the paper profile's settings."""
    runs = paper_runs[family]
    assert all(r["profile"] == "paper" for r in runs["uniform"] + runs["retrain"])
    classes = {r["model_kwargs"]["num_classes"] for r in runs["uniform"]}
    assert classes == {10 if family == "vgg_small" else 1000}
    searches = {r["method"] for r in runs["search"]}
    if family in GROUP_MODELS:
        budget = _view(paper_root, "search", family).max_ops
        assert searches == {"evolution", "random"}
        assert all(r["best_ops"] <= budget for r in runs["search"])
        assert runs["uniform"][0]["settings"]["optimizer"] == "adam"
    else:
        assert searches == {"evolution_a", "random_a", "evolution_b", "random_b"}
        assert runs["supernet"]["sampling"] == "largest"
        assert runs["uniform"][0]["settings"]["optimizer"] == "sgd"
    assert len(runs["proxy"]["genomes"]) == 2
    variants = {r["variant"] for r in runs["retrain"]}
    if family in GROUP_MODELS:  # with Figure 5's own runs (groups.epochs.fig5)
        assert variants == {"searched", "random_search", "random", "fig5_searched", "fig5_random"}
        assert {r["epochs"] for r in runs["retrain"] if r["variant"].startswith("fig5_")} == {2}
    else:
        assert {"auto_a", "random_a", "random_search_a", "auto_b"} <= variants


def test_paper_profile_tables(paper_runs, paper_root):
    """The tables stage reads the paper profile's runs and writes every report, with a cost
    row and a proxy row for every family."""
    study = tables.run(paper_root / "runs", paper_root / "reports")
    assert (paper_root / "reports/claims.md").is_file()
    assert (paper_root / "reports/index.html").is_file()
    assert set(study.cost["family"]) == set(FAMILIES)
    assert set(study.kendall["family"]) == set(FAMILIES)
    assert len(study.claims) > 0


def test_paper_profile_budgets_leave_a_search_space(paper_root):
    """Phan et al.'s absolute MaxFLOPs (Table 2) admit genomes under our OPs count."""
    from bnnlib.stages.search import budget
    from bnnlib.stages.supernet import build

    for family in GROUP_MODELS:
        cfg = _view(paper_root, "search", family)
        net = build(cfg)
        size = (3, 224, 224)
        lowest = min(net.ops(g, size) for g in (net.largest, tuple(c[-1] for c in net.choices)))
        assert lowest <= budget(cfg, net), family


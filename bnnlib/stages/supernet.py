"""Stage 02: the weight-sharing supernet of each family, and reading it back for stage 03.

Groups study (Phan et al. Alg. 2): one supernet per module, trained with a new uniformly random
group genome every step (block-diagonal crops of full weights). Widths study (Shen et al.,
*Initialization*): the model uniformly widened 4x, whose prefix slices initialise every
candidate; trained as is (``supernet_sampling="largest"``, the paper) or with a random width
genome every step (``"random"``, so that every slice can be scored one-shot). Validation during
training scores the largest candidate.

``supernet.pt`` holds the supernet's construction keywords, a fingerprint of the training data
and a digest of the weights; the weights themselves are those of the training's final
``last.pt`` beside it (one copy on disk, not two: 0.7 GB for the gpu profile's 4x ResNet-18),
which :func:`load` reads and checks against the digest. A search scoring the supernet records
that digest, so a retrained supernet makes every search over it start over. (A ``supernet.pt``
of earlier versions, with a ``state_dict`` of its own, still loads.)
"""

from __future__ import annotations

import torch

from .. import supernet as supernets
from ..data import dataset_fingerprint
from ..fingerprint import canonical, describe
from ..settings import View
from ..train import fit
from ..utils import load_checksummed, save_checksummed, write_json
from .common import (
    StaleUpstreamError,
    base_record,
    datasets,
    distributable,
    fit_item,
    log,
    model_kwargs,
    recipe,
    weights_digest,
    write_stage_metrics,
)

#: modules whose code determines a supernet's weights
SUPERNET_CODE = ("bnnlib.supernet", "bnnlib.train", "bnnlib.models")


def sampling(cfg: View) -> str:
    """How the supernet is trained: ``random`` genome every step, or the ``largest`` as is."""
    return "random" if cfg.study == "groups" else cfg.supernet_sampling


def build(cfg: View) -> supernets.Supernet:
    """The untrained supernet of the view (seeded: the same weights every call)."""
    torch.manual_seed(cfg.seed)
    extra = {"max_groups": cfg.max_groups} if cfg.study == "groups" else {}
    return supernets.build(cfg.family, **extra, **model_kwargs(cfg))


@distributable
def run(cfg: View) -> dict:
    """Train the supernet of ``cfg.family``, write ``supernet.pt`` and ``result.json``."""
    mode = sampling(cfg)
    train_data, val_data, _ = datasets(cfg, search=True)
    out_dir = cfg.runs_dir / "supernet" / cfg.family
    log(f"== supernet: {cfg.family} ({mode} genome per step)")
    trainer = supernets.train_supernet if mode == "random" else fit
    supernet, fitted = fit_item(lambda: build(cfg), out_dir, train_data, val_data, code=SUPERNET_CODE,
                          context={"sampling": mode}, trainer=trainer,
                          model_name=f"supernet_{cfg.family}", recipe=recipe(cfg), seed=cfg.seed,
                          progress=cfg.progress, num_workers=cfg.workers,
                          checkpoint_interval_s=cfg.checkpoint_interval)
    weights = weights_digest(supernet)
    save_checksummed({"family": cfg.family, "build_kwargs": canonical(supernet.build_kwargs),
                      "train_data": dataset_fingerprint(train_data), "weights": weights,
                      "checkpoint": "last.pt"}, out_dir / "supernet.pt")
    result = {**base_record(cfg), "kind": supernet.kind, "sampling": mode, "choices": supernet.choices,
              "epochs": len(fitted.history),
              "train_seconds": sum(r["seconds"] for r in fitted.history),
              "val_top1_largest": fitted.final.get("val_top1"), "history": fitted.history,
              "weights": weights}
    write_json(out_dir / "result.json", result)
    write_stage_metrics(cfg, "supernet", [{"variant": "supernet", **result}])
    return result


def load(cfg: View) -> tuple[supernets.Supernet, str]:
    """The trained supernet of the view and the digest of its weights.

    Refuses a ``supernet.pt`` built with other construction keywords or trained on other data
    than the view's, and a ``last.pt`` whose weights are not the ones ``supernet.pt`` recorded
    (:class:`StaleUpstreamError` names the differences and the stage to rerun).
    """
    path = cfg.upstream_dir / "supernet" / cfg.family / "supernet.pt"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run stage 02 (supernet) for {cfg.family} "
                                "first, or point upstream_dir at the runs that hold it")
    saved = load_checksummed(path)
    supernet = build(cfg)
    diff = describe({"model": saved["build_kwargs"], "data": saved["train_data"]},
                    {"model": canonical(supernet.build_kwargs),
                     "data": dataset_fingerprint(datasets(cfg, search=True)[0])},
                    str(path))
    rerun = f"Rerun stage 02 (dvc repro supernet_{cfg.study}@{cfg.family})."
    if diff:
        raise StaleUpstreamError(f"the supernet was trained under other settings: {diff}. {rerun}")
    state = saved.get("state_dict")  # supernet.pt of earlier versions held the weights
    if state is None:
        weights_path = path.parent / saved["checkpoint"]
        if not weights_path.exists():
            raise FileNotFoundError(f"{weights_path} does not exist: {path} takes the supernet's "
                                    f"weights from it. {rerun}")
        state = load_checksummed(weights_path)["model"]
    supernet.load_state_dict(state)
    digest = weights_digest(supernet)
    if digest != saved["weights"]:
        raise StaleUpstreamError(f"{path.parent / saved.get('checkpoint', path.name)} holds other "
                                 f"weights (digest {digest}) than {path} recorded ({saved['weights']}): "
                                 f"the supernet was trained again after it was written. {rerun}")
    return supernet, digest

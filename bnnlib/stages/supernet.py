"""Stage 02: the weight-sharing supernet of each family, and reading it back for stage 03.

Groups study (Phan et al. Alg. 2): one supernet per module, trained with a new uniformly random
group genome every step (block-diagonal crops of full weights). Widths study (Shen et al.,
*Initialization*): the model uniformly widened 4x, whose prefix slices initialise every
candidate; trained as is (``supernet_sampling="largest"``, the paper) or with a random width
genome every step (``"random"``, so that every slice can be scored one-shot). Validation during
training scores the largest candidate.

``supernet.pt`` holds the weights with the supernet's construction keywords, a fingerprint of
the training data and a digest of the weights; a search scoring the supernet records that
digest, so a retrained supernet makes every search over it start over.
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
                      "state_dict": supernet.state_dict()}, out_dir / "supernet.pt")
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
    than the view's (:class:`StaleUpstreamError` names the differences and the stage to rerun).
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
    if diff:
        raise StaleUpstreamError(f"the supernet was trained under other settings: {diff}. "
                                 f"Rerun stage 02 (dvc repro supernet_{cfg.study}@{cfg.family}).")
    supernet.load_state_dict(saved["state_dict"])
    return supernet, weights_digest(supernet)

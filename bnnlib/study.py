"""The study's stages as functions: what each numbered notebook calls.

Stage                      notebook                   writes (under ``runs_dir``)
01 uniform baselines       01_uniform_baselines       uniform/<family>/<variant>/result.json
02 supernet                02_supernet                supernet/<family>/{supernet.pt,result.json}
03 search                  03_search                  search/<family>/<method>/{result.json,log.jsonl}
04 retrain                 04_retrain                 retrain/<family>/<variant>/result.json
05 tables                  05_tables                  reports/ (tables, figures, claims, index)

The rows every stage produces are fixed by the papers' tables (``UNIFORM_VARIANTS``); sizes,
epochs and search settings are the notebook parameters (from ``params.yaml``). Every training
goes through ``bnnlib.train.fit`` (checkpoints, resume, metrics) and every search through
``bnnlib.search``; a stage interrupted and run again resumes. A checkpoint or search state
written under other settings (a changed parameter) is discarded and the item starts over.

Choices where the papers leave the CPU-scale study open:
- Groups study budgets. Phan et al.'s MaxFLOPs (1.55 / 0.80 / 0.50 x1e8 for M1 / M2 / M3 on
  ImageNet) sit at a relative position between the uniform groups=16 and groups=1 models'
  FLOPs (0.08 / 0.27 / 0.41). At other sizes the budget is placed at the same position:
  ``max_ops = ops(g16) + budget_position * (ops(g1) - ops(g16))``.
- "Random Group" (Phan Table 1) is one genome drawn uniformly per gene, without the budget
  (the paper's random models exceed the budgets: 1.58 > 1.55 x1e8), trained from scratch.
- Shen et al.'s Auto-A and Auto-B come from two trade-offs of eq. 4: ``lam_a`` (the paper's
  lambda = 4) and a smaller ``lam_b`` that admits wider models; the paper does not say how
  its two models were picked. Each search's best genome is retrained from scratch.
- Widths study: the 4x-wide model is trained either as Shen et al. do
  (``supernet_sampling="largest"``: the 4x model as is; candidates are then prefix slices
  fine-tuned ``finetune_epochs`` epochs) or with a new random width genome every step
  (``"random"``, Phan et al.'s Algorithm 2 applied to widths), which makes every prefix slice
  usable one-shot (``finetune_epochs=0``: BN recalibration only). On the ``cpu`` profile the
  4x model's narrow slices scored 25.5% one-shot (uniform 1x; 76.0% when trained alone), and a
  1-epoch fine-tune on 1000 images did not repair the ranking, while random-width training gave
  67.7%; the ``cpu`` profile therefore uses ``"random"``, the ``paper`` profile ``"largest"``.
- The evaluations of the two trade-offs are shared: a genome scored once is not scored again.
- Test accuracy is taken from the weights after the last epoch; the test set is used only here,
  never by a search.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import time
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from . import flops, models, search, supernet
from .bn import recalibrate_bn  # noqa: F401  (re-exported for notebooks)
from .data import dataset_info, get_datasets
from .evaluators import FinetuneEvaluator, OneShotEvaluator
from .train import CheckpointMismatchError, evaluate, fit
from .utils import CorruptFileError, atomic_write_bytes, load_checksummed, save_checksummed

GROUPS_FAMILIES = ("mobilenet_m1", "mobilenet_m2", "mobilenet_m3")
WIDTHS_FAMILIES = ("vgg_small", "resnet18")
FAMILIES = GROUPS_FAMILIES + WIDTHS_FAMILIES

#: the rows of Phan et al. Table 1 / Shen et al. Tables 1-2 that stage 01 trains
UNIFORM_VARIANTS = {
    "groups": {f"groups{g}": {"groups": g} for g in (1, 4, 16)},
    "widths": {"fp": {"binary": False, "expansion": 1.0},
               **{f"uniform{e}x": {"expansion": float(e)} for e in (1, 2, 3, 4)}},
}
#: Phan et al. Table 2 MaxFLOPs placed between the uniform g16 and g1 models' FLOPs (Table 1)
PAPER_BUDGET_POSITION = {
    "mobilenet_m1": (1.55 - 1.50) / (2.13 - 1.50),
    "mobilenet_m2": (0.80 - 0.30) / (2.13 - 0.30),
    "mobilenet_m3": (0.50 - 0.24) / (0.87 - 0.24),
}


def study_of(family: str) -> str:
    if family in GROUPS_FAMILIES:
        return "groups"
    if family in WIDTHS_FAMILIES:
        return "widths"
    raise ValueError(f"unknown family {family!r}; known: {', '.join(FAMILIES)}")


def uniform_kwargs(family: str, variant: str) -> dict:
    """Genome keywords of a stage-01 row (M2's uniform rows group the real 1x1 convs too)."""
    table = UNIFORM_VARIANTS[study_of(family)]
    if variant not in table:
        raise ValueError(f"unknown variant {variant!r} for {family}; known: {', '.join(table)}")
    kwargs = dict(table[variant])
    if family == "mobilenet_m2":
        kwargs["real_groups"] = kwargs["groups"]
    return kwargs


# ---- files -----------------------------------------------------------------------------------

def write_json(path: str | os.PathLike, obj) -> Path:
    """Write ``obj`` as indented JSON atomically."""
    return atomic_write_bytes(path, (json.dumps(obj, indent=2, default=_jsonable) + "\n").encode())


def _jsonable(obj):
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, (Path,)):
        return str(obj)
    if isinstance(obj, tuple):
        return list(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def read_json(path: str | os.PathLike):
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run the stage that writes it first "
                                f"(`dvc repro`, or the notebook of that stage)")
    return json.loads(path.read_text())


def device_description() -> str:
    if torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)})"
    return f"cpu ({os.cpu_count()} cores, {platform.machine()})"


# ---- data ------------------------------------------------------------------------------------

@lru_cache(maxsize=4)
def load_data(dataset: str = "fashion_mnist", data_root: str = "data/raw", val_size: int | None = None,
              train_subset: int | None = None, val_subset: int | None = None,
              test_subset: int | None = None, data_seed: int = 0, augment: bool = True):
    """(train, val, test) of the profile: ``val`` is the held-out search-validation split."""
    return get_datasets(dataset, root=data_root, val_size=val_size,
                        subset=(train_subset, val_subset, test_subset), seed=data_seed,
                        augment=augment)


#: every notebook parameter a stage may read
PARAMETER_NAMES = (
    "family", "profile", "seed", "progress", "dataset", "data_root", "val_size", "train_subset",
    "val_subset", "test_subset", "data_seed", "width_mult", "small_input", "max_groups", "epochs",
    "batch_size", "optimizer", "lr", "schedule", "population", "topk", "crossovers", "mutations",
    "iterations", "mutation_prob", "calib_images", "val_images", "finetune_epochs", "supernet_sampling",
    "budget_position", "max_ops", "lam_a", "lam_b",
)


class Settings(dict):
    """Notebook parameters of a stage, with the data and model keywords derived from them.

    DVC writes YAML ``null`` / ``true`` / ``false`` into the papermill command as ``None`` /
    ``true`` / ``false``, which papermill passes on as strings; they are read back as
    ``None`` / ``True`` / ``False`` here.
    """

    @classmethod
    def from_namespace(cls, namespace: dict) -> Settings:
        """The stage parameters found in a notebook's namespace (``globals()``)."""
        return cls({k: _coerce(namespace[k]) for k in PARAMETER_NAMES if k in namespace})

    def data(self, augment: bool = True):
        return load_data(self["dataset"], self["data_root"], self.get("val_size"),
                         self.get("train_subset"), self.get("val_subset"),
                         self.get("test_subset"), self.get("data_seed", 0), augment)

    def base_model_kwargs(self) -> dict:
        info = dataset_info(self["dataset"])
        kwargs = {"num_classes": info.num_classes, "in_channels": info.in_channels,
                  "width_mult": float(self.get("width_mult", 1.0))}
        if self["family"] != "vgg_small":
            kwargs["small_input"] = bool(self.get("small_input", False))
        return kwargs

    def input_size(self) -> tuple[int, int, int]:
        info = dataset_info(self["dataset"])
        return (info.in_channels, info.image_size, info.image_size)

    def fit_kwargs(self) -> dict:
        """The training recipe of this stage's notebook parameters."""
        return {"epochs": int(self["epochs"]), "batch_size": int(self.get("batch_size", 128)),
                "optimizer": self.get("optimizer", "adam"), "lr": float(self.get("lr", 1e-3)),
                "schedule": self.get("schedule", "linear"), "seed": int(self.get("seed", 0)),
                "progress": bool(self.get("progress", True))}


_LITERALS = {"none": None, "null": None, "true": True, "false": False}


def _coerce(value):
    if isinstance(value, str) and value.lower() in _LITERALS:
        return _LITERALS[value.lower()]
    return value


def _fit_resuming(build_model, out_dir: Path, train_data, val_data, **fit_kwargs):
    """``fit`` resuming from ``out_dir``; a checkpoint of other settings is discarded."""
    model = build_model()
    try:
        return model, fit(model, train_data, val_data, out_dir=out_dir, **fit_kwargs)
    except (CheckpointMismatchError, CorruptFileError) as err:
        print(f"[{out_dir}] starting over: {err}")
        shutil.rmtree(out_dir, ignore_errors=True)
        model = build_model()
        return model, fit(model, train_data, val_data, out_dir=out_dir, **fit_kwargs)


def train_model(s: Settings, stage: str, variant: str, genome_kwargs: dict,
                runs_dir: str | os.PathLike = "runs", extra: dict | None = None) -> dict:
    """Train one model from scratch, test it, count its OPs and write its result.json."""
    family = s["family"]
    kwargs = {**s.base_model_kwargs(), **genome_kwargs}
    train_data, val_data, test_data = s.data()
    out_dir = Path(runs_dir) / stage / family / variant

    def build():
        torch.manual_seed(int(s.get("seed", 0)))
        return models.build(family, **kwargs)

    print(f"== {stage}: {family} {variant} {genome_kwargs}")
    model, fitted = _fit_resuming(build, out_dir, train_data, val_data,
                                  model_name=f"{family}/{variant}", **s.fit_kwargs())
    if fitted.resumed_from:
        print(f"   resumed from {out_dir / 'last.pt'} at {fitted.resumed_from}")
    test = evaluate(model, test_data)
    report = flops.count(model, s.input_size())
    genome = genome_kwargs.get("expansion", genome_kwargs.get("groups"))
    if family == "mobilenet_m2" and "real_groups" in genome_kwargs:
        genome = _as_list(genome, 13) + _as_list(genome_kwargs["real_groups"], 5)
    elif genome is not None:
        genome = _as_list(genome, len(models.gene_names(family)))
    result = {
        "study": study_of(family), "family": family, "variant": variant,
        "genome": genome if genome_kwargs.get("binary", True) else None,
        "model_kwargs": kwargs, "binary": bool(kwargs.get("binary", True)),
        **report.summary(),
        "test_top1": test["top1"], "test_top5": test["top5"], "test_loss": test["loss"],
        "val_top1": fitted.final.get("val_top1"), "epochs": len(fitted.history),
        "train_seconds": sum(r["seconds"] for r in fitted.history),
        "history": fitted.history, "dataset": s["dataset"], "profile": s.get("profile"),
        "input_size": list(s.input_size()), "device": device_description(), **(extra or {}),
    }
    write_json(out_dir / "result.json", result)
    print(f"   test top-1 {100 * test['top1']:.2f}%  OPs {report.ops / 1e6:.3f}M")
    return result


def _as_list(value, n: int) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value] * n


def write_stage_metrics(stage: str, family: str, results: list[dict],
                        metrics_dir: str | os.PathLike = "metrics") -> Path:
    """A flat metrics file per stage and family, for ``dvc metrics show``."""
    keep = ("test_top1", "test_top5", "val_top1", "ops", "memory_bits", "train_seconds",
            "best_acc", "best_ops", "best_fitness", "evaluations", "search_seconds")
    flat = {r.get("variant", r.get("method")): {k: r[k] for k in keep if r.get(k) is not None}
            for r in results}
    return write_json(Path(metrics_dir) / stage / f"{family}.json", flat)


# ---- stage 01 --------------------------------------------------------------------------------

def run_uniform(s: Settings, runs_dir="runs") -> list[dict]:
    """Stage 01: the uniform rows (groups 1/4/16; real-valued and uniform 1x-4x widths)."""
    family = s["family"]
    variants = list(UNIFORM_VARIANTS[study_of(family)])
    if family == "mobilenet_m2":
        # groups = 1 everywhere is the same network as M1's (Phan et al. print the same row);
        # the tables take it from mobilenet_m1/groups1
        variants.remove("groups1")
    results = [train_model(s, "uniform", v, uniform_kwargs(family, v), runs_dir) for v in variants]
    write_stage_metrics("uniform", family, results)
    return results


# ---- stage 02 --------------------------------------------------------------------------------

def build_supernet(s: Settings) -> supernet.Supernet:
    torch.manual_seed(int(s.get("seed", 0)))
    max_groups = s.get("max_groups")
    extra = {"max_groups": int(max_groups)} if max_groups and study_of(s["family"]) == "groups" else {}
    return supernet.build(s["family"], **extra, **s.base_model_kwargs())


SUPERNET_SAMPLING = ("random", "largest")


def run_supernet(s: Settings, runs_dir="runs") -> dict:
    """Stage 02: the groups supernet (random genome every step, Phan Alg. 2), or the 4x-wide
    model of the widths study, trained with random widths or as is (module docstring)."""
    family = s["family"]
    sampling = "random" if study_of(family) == "groups" else s.get("supernet_sampling") or "largest"
    if sampling not in SUPERNET_SAMPLING:
        raise ValueError(f"supernet_sampling={sampling!r}; valid: {', '.join(SUPERNET_SAMPLING)}")
    train_data, val_data, _ = s.data()
    out_dir = Path(runs_dir) / "supernet" / family
    print(f"== supernet: {family} ({sampling} genome per step)")
    fit_kwargs = s.fit_kwargs()
    if sampling == "random":
        run = lambda sn: supernet.train_supernet(sn, train_data, val_data, out_dir=out_dir, **fit_kwargs)  # noqa: E731
    else:
        run = lambda sn: fit(sn, train_data, val_data, out_dir=out_dir,  # noqa: E731
                             model_name=f"supernet_{family}", **fit_kwargs)
    sn = build_supernet(s)
    try:
        fitted = run(sn)
    except (CheckpointMismatchError, CorruptFileError) as err:
        print(f"[{out_dir}] starting over: {err}")
        shutil.rmtree(out_dir, ignore_errors=True)
        sn = build_supernet(s)
        fitted = run(sn)
    save_checksummed({"family": family, "settings": dict(s), "state_dict": sn.state_dict()},
                     out_dir / "supernet.pt")
    result = {"study": study_of(family), "family": family, "kind": sn.kind, "sampling": sampling,
              "choices": sn.choices, "epochs": len(fitted.history),
              "train_seconds": sum(r["seconds"] for r in fitted.history),
              "val_top1_largest": fitted.final.get("val_top1"), "history": fitted.history,
              "dataset": s["dataset"], "profile": s.get("profile"), "device": device_description()}
    write_json(out_dir / "result.json", result)
    write_stage_metrics("supernet", family, [{"variant": "supernet", **result}])
    return result


def load_supernet(s: Settings, runs_dir="runs") -> supernet.Supernet:
    path = Path(runs_dir) / "supernet" / s["family"] / "supernet.pt"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run stage 02 (supernet) for {s['family']} first")
    sn = build_supernet(s)
    sn.load_state_dict(load_checksummed(path)["state_dict"])
    return sn


# ---- stage 03 --------------------------------------------------------------------------------

class CachedAccuracy:
    """Memoises an evaluator by genome (two fitness trade-offs share the evaluations)."""

    def __init__(self, evaluate_fn):
        self.evaluate_fn, self.cache, self.seconds = evaluate_fn, {}, 0.0

    def __call__(self, genome) -> float:
        key = tuple(genome)
        if key not in self.cache:
            t = time.perf_counter()
            self.cache[key] = float(self.evaluate_fn(genome))
            self.seconds += time.perf_counter() - t
        return self.cache[key]


def budget_for(s: Settings, sn: supernet.Supernet) -> float:
    """The groups study's FLOP budget: see the module docstring."""
    if s.get("max_ops") not in (None, "None"):
        return float(s["max_ops"])
    n = len(sn.choices)
    g1 = sn.ops([1] * n, s.input_size())
    g16 = sn.ops([16] * n, s.input_size())
    pos = s.get("budget_position")
    pos = PAPER_BUDGET_POSITION[s["family"]] if pos in (None, "None") else float(pos)
    return g16 + pos * (g1 - g16)


def _search_settings(s: Settings) -> dict:
    return {k: int(s[k]) for k in ("population", "topk", "crossovers", "mutations", "iterations")}


def _run_one_search(method, s, out, choices, fitness, constraint, evaluations=None):
    out.mkdir(parents=True, exist_ok=True)
    kw = {"log_path": out / "log.jsonl", "state_path": out / "state.json",
          "seed": int(s.get("seed", 0)), "progress": bool(s.get("progress", True))}
    def go():
        if method.startswith("evolution"):
            return search.evolutionary_search(choices, fitness, constraint, **_search_settings(s),
                                              mutation_prob=float(s.get("mutation_prob", 0.1)), **kw)
        return search.random_search(choices, fitness, constraint, evaluations=evaluations, **kw)
    t = time.perf_counter()
    try:
        result = go()
    except ValueError as err:
        if "state" not in str(err):
            raise
        print(f"[{out}] starting over: {err}")
        for f in ("log.jsonl", "state.json"):
            (out / f).unlink(missing_ok=True)
        result = go()
    return result, time.perf_counter() - t


def run_search(s: Settings, runs_dir="runs") -> list[dict]:
    """Stage 03: evolutionary search and the random baseline with the same evaluation budget."""
    family = s["family"]
    study = study_of(family)
    train_plain, val_data, _ = s.data(augment=False)
    sn = load_supernet(s, runs_dir)
    ops = lambda g: sn.ops(g, s.input_size())  # noqa: E731
    if study == "groups" or int(s.get("finetune_epochs", 0)) == 0:
        evaluator = OneShotEvaluator(sn, train_plain, val_data, calib_images=s.get("calib_images"),
                                     val_images=s.get("val_images"), seed=int(s.get("seed", 0)))
    else:
        evaluator = FinetuneEvaluator(sn, s.data()[0], val_data, epochs=int(s["finetune_epochs"]),
                                      calib_images=s.get("calib_images"),
                                      val_images=s.get("val_images"), seed=int(s.get("seed", 0)))
    acc = CachedAccuracy(evaluator)
    base = {"study": study, "family": family, "dataset": s["dataset"], "profile": s.get("profile"),
            "device": device_description(), "input_size": list(s.input_size())}
    if study == "groups":
        max_ops = budget_for(s, sn)
        fitness, constraint = search.accuracy_under_budget(acc, ops, max_ops)
        trade_offs = {"": (fitness, constraint, {"max_ops": max_ops, "lam": None, "ops_ref": None})}
    else:
        ops_ref = flops.count(_meta(family, **s.base_model_kwargs(), expansion=1.0), s.input_size()).ops
        trade_offs = {
            f"_{tag}": (search.shen_fitness_fn(acc, ops, ops_ref, lam=float(s[f"lam_{tag}"])), None,
                        {"max_ops": None, "lam": float(s[f"lam_{tag}"]), "ops_ref": ops_ref})
            for tag in ("a", "b")
        }
    results = []
    for suffix, (fitness, constraint, info) in trade_offs.items():
        runs = {}
        for method in ("evolution", "random"):
            name = method + suffix
            out = Path(runs_dir) / "search" / family / name
            print(f"== search: {family} {name} {info}")
            evaluations = runs["evolution"].evaluations if method == "random" else None
            res, seconds = _run_one_search(name, s, out, sn.choices, fitness, constraint, evaluations)
            runs[method] = res
            best = next(e for e in res.history if tuple(e.genome) == tuple(res.best))
            record = {**base, "method": name, "best": list(res.best), "best_fitness": res.best_fitness,
                      "best_acc": best.extras.get("acc"), "best_ops": best.extras.get("ops"), **info,
                      "evaluations": res.evaluations, "search_seconds": seconds,
                      "history": str(out / "log.jsonl"), "notes": res.notes}
            write_json(out / "result.json", record)
            results.append(record)
    # one-shot scores of the uniform genomes: with their standalone accuracies (stage 01) they
    # give the rank correlation of supernet scores and trained accuracies (Kendall tau)
    scores = {v: {"genome": list(g), "score": acc(g)} for v, g in _uniform_genomes(family, sn).items()}
    write_json(Path(runs_dir) / "search" / family / "uniform_scores.json", scores)
    write_stage_metrics("search", family, results)
    return results


def _meta(family: str, **kwargs):
    with torch.device("meta"):
        return models.build(family, **kwargs)


def _uniform_genomes(family: str, sn: supernet.Supernet) -> dict[str, tuple]:
    n = len(sn.choices)
    if study_of(family) == "groups":
        return {f"groups{g}": (g,) * n for g in (1, 4, 16) if all(g in c for c in sn.choices)}
    return {f"uniform{e}x": (float(e),) * n for e in (1, 2, 3, 4)}


# ---- stage 04 --------------------------------------------------------------------------------

def random_genome(choices, seed: int) -> list:
    """Phan et al.'s "Random Group": each gene drawn uniformly, no budget."""
    rng = np.random.default_rng([seed, 2020])
    return [c[int(rng.integers(len(c)))] for c in choices]


def retrain_genomes(s: Settings, runs_dir="runs") -> dict[str, list]:
    """The genomes stage 04 trains from scratch, by variant name."""
    family = s["family"]
    found = lambda m: read_json(Path(runs_dir) / "search" / family / m / "result.json")["best"]  # noqa: E731
    if study_of(family) == "groups":
        choices = read_json(Path(runs_dir) / "supernet" / family / "result.json")["choices"]
        return {"searched": found("evolution"), "random": random_genome(choices, int(s.get("seed", 0)))}
    return {"auto_a": found("evolution_a"), "auto_b": found("evolution_b")}


def genome_kwargs(family: str, genome) -> dict:
    if study_of(family) == "widths":
        return {"expansion": [float(g) for g in genome]}
    kwargs = {"groups": [int(g) for g in genome[:13]]}
    if family == "mobilenet_m2":
        kwargs["real_groups"] = [int(g) for g in genome[13:]]
    return kwargs


def run_retrain(s: Settings, runs_dir="runs") -> list[dict]:
    """Stage 04: searched genomes (and Phan's random genome) trained from scratch."""
    family = s["family"]
    results = [train_model(s, "retrain", variant, genome_kwargs(family, genome), runs_dir)
               for variant, genome in retrain_genomes(s, runs_dir).items()]
    write_stage_metrics("retrain", family, results)
    return results


# ---- stage 05 --------------------------------------------------------------------------------

def kendall_table(runs_dir="runs"):
    """Rank correlation of one-shot supernet scores and standalone test accuracies (stage 01)."""
    import pandas as pd

    rows = []
    for family in FAMILIES:
        path = Path(runs_dir) / "search" / family / "uniform_scores.json"
        if not path.exists():
            continue
        scores, accs = [], []
        for variant, entry in read_json(path).items():
            trained = Path(runs_dir) / "uniform" / family / variant / "result.json"
            if trained.exists():
                scores.append(entry["score"])
                accs.append(read_json(trained)["test_top1"])
        tau = search.kendall_tau(scores, accs) if len(scores) >= 2 else float("nan")
        rows.append({"family": family, "genomes": len(scores), "kendall_tau": tau,
                     "one_shot_scores": [round(100 * x, 2) for x in scores],
                     "trained_test_top1": [round(100 * x, 2) for x in accs]})
    return pd.DataFrame(rows)


def run_tables(runs_dir="runs", reports_dir="reports") -> dict[str, list[Path]]:
    """Stage 05: tables, figures, claims, the Kendall-tau check, metrics and the index."""
    from . import report, tables

    reports = Path(reports_dir)
    ktab = kendall_table(runs_dir)
    (reports / "tables").mkdir(parents=True, exist_ok=True)
    ktab.to_csv(reports / "tables" / "kendall_tau.csv", index=False)
    written = report.build_reports(runs_dir, reports_dir)  # index last: it links the csv too
    results = tables.load_results(runs_dir)
    flat = {f"{r['family']}/{r['variant']}": {k: r[k] for k in ("test_top1", "test_top5", "ops", "memory_bits")}
            for r in results.models.to_dict("records") if not is_missing(r.get("test_top1"))}
    write_json(reports / "metrics.json", flat)
    written["metrics"] = [reports / "metrics.json"]
    return written


# ---- notebook helpers ------------------------------------------------------------------------

def results_frame(results: list[dict]):
    """A compact table of stage results for display in a notebook."""
    import pandas as pd

    rows = []
    for r in results:
        rows.append({k: r.get(k) for k in ("family", "variant", "method", "test_top1", "test_top5",
                                           "best_acc", "ops", "best_ops", "memory_bits",
                                           "evaluations", "train_seconds", "search_seconds")
                     if r.get(k) is not None})
    frame = pd.DataFrame(rows)
    for col in ("test_top1", "test_top5", "best_acc"):
        if col in frame:
            frame[col] = (100 * frame[col]).round(2)
    return frame


def plot_histories(results: list[dict], key: str = "val_top1", ax=None):
    """Per-epoch curves of ``key`` (default validation top-1) for trained results."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for r in results:
        hist = r.get("history") or []
        if isinstance(hist, list) and hist and key in hist[0]:
            ax.plot([h["epoch"] for h in hist], [100 * h[key] for h in hist], marker="o",
                    label=r.get("variant", r.get("family")))
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{key} (%)")
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=8)
    return ax


def is_missing(value) -> bool:
    return value is None or value == "None" or (isinstance(value, float) and math.isnan(value))


# ---- data preparation (the `data` stage) -----------------------------------------------------

def prepare_data(dataset: str = "fashion_mnist", data_root: str | os.PathLike = "data/raw") -> Path:
    """Put the dataset's files under ``data_root`` so that DVC tracks them.

    Fashion-MNIST: the four IDX files are copied from wherever ``bnnlib.data`` finds them (the
    Debian package, or a torchvision download) into ``data_root/fashion_mnist``. CIFAR-10:
    torchvision's download into ``data_root/cifar10`` (the families' ``data_root`` in the paper
    profile). ImageNet is read in place from the user's path. Returns the folder DVC tracks.
    """
    from . import data as data_mod

    root = Path(data_root)
    if dataset == "fashion_mnist":
        target = root / "fashion_mnist"
        if data_mod._find_idx_dir(target) is None:
            data_mod.load_fashion_mnist(root)  # raises a clear error if nowhere to be found
            for directory in data_mod._fashion_mnist_dirs(root)[1:] + [Path(data_mod.DEBIAN_FASHION_MNIST)]:
                files = data_mod._find_idx_dir(directory)
                if files is not None:
                    target.mkdir(parents=True, exist_ok=True)
                    for path in files.values():
                        shutil.copy2(path, target / path.name)
                    break
        return target
    if dataset == "cifar10":
        get_datasets("cifar10", root=root / "cifar10")
        return root / "cifar10"
    dataset_info(dataset)  # validates the name
    return root


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="bnnlib study helpers")
    sub = parser.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare-data", help="copy/download a dataset under data/raw for DVC")
    prep.add_argument("--dataset", default="fashion_mnist")
    prep.add_argument("--root", default="data/raw")
    args = parser.parse_args()
    print(prepare_data(args.dataset, args.root))

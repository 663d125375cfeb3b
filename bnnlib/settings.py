"""Every setting of the study, declared once: name, type, default, allowed values, one comment.

The dataclasses below mirror ``params.yaml`` (and ``profiles/*.yaml``) key for key. Loading a
file validates it completely before any work starts: an unknown key, a wrong type or a value
outside its choices is a :class:`SettingsError` naming the key, the value and what is valid.
A missing key takes its default when loading; the check command (the pipeline's first stage)
also refuses a file that leaves out a key a stage depends on (:func:`unspelled`), since DVC
would otherwise stop only at the first stage that reads it.
Booleans are ``true``/``false`` only (YAML 1.2: ``no`` is the string "no", and is refused).

A stage of one family reads a flat *view* of the tree (:func:`view`): ``epochs`` of stage
``uniform`` for ``mobilenet_m1`` is ``groups.epochs.uniform``, its ``dataset`` is
``groups.families.mobilenet_m1.dataset``. :func:`stage_keys` is that mapping, the one place that
says which settings a stage reads; ``dvc.yaml``'s ``params:`` lists are checked against it by
the tests. A notebook or ``-p`` override may use the flat name or the dotted key.

Relative paths (``params.yaml``, ``data_root``, run folders) resolve from the repository root
(the folder holding ``dvc.yaml``, found upwards from the working directory), so a notebook
opened from ``notebooks/`` reads and writes the same files as ``dvc repro``.

Run ``python -m bnnlib.settings [params.yaml]`` to check a file; ``--list`` prints every
setting with its type, default and comment.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import math
import sys
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .registry import (
    DATASETS,
    EXPANSION_MODELS,
    GROUP_CONVS,
    GROUP_MODELS,
    OPTIMIZERS,
    RESIZES,
    SCHEDULES,
)

STUDIES = {"groups": GROUP_MODELS, "widths": EXPANSION_MODELS}
FAMILIES = GROUP_MODELS + EXPANSION_MODELS
STAGES = ("uniform", "supernet", "search", "proxy", "retrain")
#: notebook file stem -> stage
NOTEBOOKS = {"01_uniform_baselines": "uniform", "02_supernet": "supernet", "03_search": "search",
             "04_retrain": "retrain", "05_tables": "tables", "06_proxy": "proxy"}
SUPERNET_SAMPLING = ("random", "largest")
PREPARED_DATASETS = ("fashion_mnist", "cifar10")


class SettingsError(ValueError):
    """A settings file or override is invalid; the message names the key and what is valid."""


def setting(default: Any, doc: str, *, choices: tuple | None = None, low: float | None = None,
            above: float | None = None, high: float | None = None, tracked: bool = True,
            check=None):
    """A declared setting: ``low <= value``, ``above < value``, ``value <= high``.

    ``default`` may be a callable (a section's dataclass, or a factory of the families dict).
    ``tracked=False``: the setting changes no result (it is not a DVC param).
    ``check(value)``: replaces the type check; returns what is wrong, or None.
    """
    meta = {"doc": doc, "choices": choices, "low": low, "above": above, "high": high,
            "tracked": tracked, "check": check}
    if callable(default):
        return field(default_factory=default, metadata=meta)
    return field(default=default, metadata=meta)


# ---- the declaration ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Data:
    prepare: str = setting("fashion_mnist", "dataset the `data` stage puts under data/raw (DVC-tracked)",
                           choices=PREPARED_DATASETS)
    val_size: int = setting(5000, "training images held out for the search (never the test set)", low=1)
    train_subset: int | None = setting(5000, "training images used by every stage (null: all)", low=1)
    val_subset: int | None = setting(1000, "search-validation images kept (null: all of val_size)", low=1)
    test_subset: int | None = setting(None, "test images (null: the whole test set)", low=1)
    data_seed: int = setting(0, "seed of the split and the subsets (fixed, apart from training)", low=0)
    workers: int = setting(
        0, "DataLoader worker processes per training process for data read from disk (ImageNet; "
        "in-memory datasets use none); they draw the random crops, so results depend on it", low=0)


@dataclass(frozen=True)
class Recipe:
    batch_size: int = setting(128, "training batch size", low=1)
    optimizer: str = setting("adam", "adam (Phan et al.) or sgd with momentum 0.9 (Shen et al.)",
                             choices=OPTIMIZERS)
    lr: float = setting(0.001, "base learning rate", above=0.0)
    schedule: str = setting("linear", "learning-rate schedule over all steps", choices=SCHEDULES)
    milestones: list[int] | None = setting(
        None, "epochs at which the step schedule multiplies the rate by 0.1 (null: 30/60/90% of "
        "the epochs)", low=1)
    weight_decay: float | None = setting(None, "L2 coefficient (null: 0 with Adam, 5e-4 with SGD)",
                                         low=0.0)


@dataclass(frozen=True)
class Epochs:
    uniform: int = setting(2, "epochs of each uniform baseline (stage 01)", low=1)
    supernet: int = setting(4, "epochs of the supernet (stage 02)", low=1)
    retrain: int = setting(2, "epochs of each searched model trained from scratch (stage 04)", low=1)


@dataclass(frozen=True)
class GroupsEpochs(Epochs):
    fig5: int | None = setting(
        None, "epochs of Figure 5's random-vs-searched runs, trained apart from the final models "
        "(Phan et al.: 100, the final models 256); null: Figure 5 is drawn from the retraining's "
        "curves", low=1)


def fig5_apart(fig5: int | None, retrain: int) -> int | None:
    """Epochs of Figure 5's own runs, or None where the figure uses the retraining's curves
    (``fig5`` null, or equal to the retraining's epochs: the same runs)."""
    return None if fig5 is None or fig5 == retrain else int(fig5)


@dataclass(frozen=True)
class Search:
    population: int = setting(12, "initial population (Phan et al. 50, Shen et al. 32)", low=1)
    topk: int = setting(4, "elite size K, over every genome evaluated so far", low=1)
    crossovers: int = setting(6, "crossover children per iteration", low=0)
    mutations: int = setting(6, "mutation children per iteration", low=0)
    iterations: int = setting(4, "evaluation rounds, the initial population's included", low=1)
    mutation_prob: float = setting(0.1, "per-gene probability of a change in a mutation", low=0.0, high=1.0)
    calib_images: int | None = setting(500, "training images for BN recalibration of a candidate (null: all)", low=1)
    val_images: int | None = setting(1000, "search-validation images scoring a candidate (null: all)", low=1)
    eval_batch_size: int = setting(
        256, "batch of a one-shot candidate's BN recalibration and scoring (recalibrated "
        "statistics average per-batch variances: part of the score)", low=1)


@dataclass(frozen=True)
class GroupsSearch(Search):
    group_conv: str = setting(
        "grouped", "how a candidate's grouped convolutions run while it is scored: grouped "
        "kernels, or dense convolutions of block-diagonal weights (g times the multiply-adds, "
        "one shape per layer; the same scores up to the order of the sums; on an H200 at 28x28 "
        "3.5x the candidates per minute for M1, bnnlib.dynamic)", choices=GROUP_CONVS)


@dataclass(frozen=True)
class WidthsSearch(Search):
    finetune_epochs: int = setting(0, "epochs of training per candidate (Shen et al. 10; 0: one-shot)", low=0)
    finetune_batch_size: int = setting(
        128, "batch of a candidate's fine-tuning and scoring (Shen et al. do not give their "
        "fine-tuning recipe: ours)", low=1)
    finetune_optimizer: str = setting("sgd", "optimizer of a candidate's fine-tuning (momentum 0.9)",
                                      choices=OPTIMIZERS)
    finetune_lr: float = setting(0.01, "base learning rate of a candidate's fine-tuning", above=0.0)
    finetune_schedule: str = setting("cosine", "learning-rate schedule of a candidate's fine-tuning",
                                     choices=SCHEDULES)
    lam_a: float = setting(4.0, "lambda of eq. 4 for Auto-A (Shen et al.: 4)", low=0.0)
    lam_b: float = setting(1.0, "lambda of eq. 4 for Auto-B (a smaller trade-off, wider models)", low=0.0)


@dataclass(frozen=True)
class Proxy:
    genomes: int = setting(16, "genomes spread over the OPs range, scored one-shot and trained alone", low=2)
    epochs: int = setting(1, "epochs of each stand-alone proxy model (a short schedule)", low=1)
    train_images: int | None = setting(2000, "training images of a proxy model (null: the whole split)", low=1)
    test_images: int | None = setting(2000, "test images scoring a proxy model (null: the whole test split)", low=1)


@dataclass(frozen=True)
class GroupsFamily:
    dataset: str = setting("fashion_mnist", "dataset of this family", choices=tuple(DATASETS))
    data_root: str = setting("data/raw", "folder of the dataset (relative: from the repository root)")
    budget_position: float | None = setting(
        None, "MaxFLOPs between the uniform g16 (0) and g1 (1) models' OPs (null: Phan et al.'s)",
        low=0.0, high=1.0)
    max_ops: float | None = setting(None, "absolute MaxFLOPs in OPs (null: use budget_position)", above=0.0)
    resize: str = setting("short_side", "ImageNet images to 256 on the short side, or square "
                          "256x256 (Phan et al.), before the 224 crop; other datasets: ignored",
                          choices=RESIZES)


@dataclass(frozen=True)
class GroupsModel:
    width_mult: float = setting(0.5, "scales every MobileNet width", above=0.0)
    small_input: bool = setting(False, "stride-1 stem for 28x28/32x32 images")
    max_groups: int | None = setting(None, "cap on the group choices of a gene (null: every divisor)", low=1)
    activation_scaling: bool = setting(
        False, "eq. 6's scaling factor on the binary activations too (one per image), not only "
               "on the weights (Phan et al.: 'X can be weights or activations')")


@dataclass(frozen=True)
class WidthsFamily:
    dataset: str = setting("fashion_mnist", "dataset of this family", choices=tuple(DATASETS))
    data_root: str = setting("data/raw", "folder of the dataset (relative: from the repository root)")
    width_mult: float = setting(0.0625, "scales every base width (genomes act on top of it)", above=0.0)
    small_input: bool = setting(False, "ResNet-18: stride-1 3x3 stem without max-pool (VGG-small: false)")
    train: Recipe = setting(Recipe, "training recipe of this family's models (Shen et al. train "
                            "VGG-small on CIFAR-10 and ResNet-18 on ImageNet differently)")
    epochs: Epochs = setting(Epochs, "epochs per stage of this family")
    search_per_class: int | None = setting(
        None, "training images per class of the supernet (the 4x model) and of the candidates' "
        "fine-tuning and calibration (Shen et al.: 50 per ImageNet class); null: the whole "
        "training split", low=1)
    resize: str = setting("short_side", "ImageNet images to 256 on the short side (He et al.), or "
                          "square 256x256, before the 224 crop; other datasets: ignored",
                          choices=RESIZES)


@dataclass(frozen=True)
class GroupsStudy:
    families: dict[str, GroupsFamily] = setting(
        lambda: {f: GroupsFamily() for f in GROUP_MODELS}, "Phan et al.'s binary MobileNet modules")
    model: GroupsModel = setting(GroupsModel, "model construction shared by the modules")
    train: Recipe = setting(Recipe, "training recipe of every model of this study")
    epochs: GroupsEpochs = setting(GroupsEpochs, "epochs per stage")
    search: GroupsSearch = setting(GroupsSearch, "evolutionary search (Phan et al. Algorithm 1)")
    proxy: Proxy = setting(Proxy, "rank correlation of one-shot scores and stand-alone accuracy")


@dataclass(frozen=True)
class WidthsStudy:
    families: dict[str, WidthsFamily] = setting(
        lambda: {"vgg_small": WidthsFamily(), "resnet18": WidthsFamily(small_input=True)},
        "Shen et al.'s VGG-small and ResNet-18")
    supernet_sampling: str = setting(
        "random", "4x model trained with random widths every step, or as is (largest, Shen et al.)",
        choices=SUPERNET_SAMPLING)
    search: WidthsSearch = setting(WidthsSearch, "evolutionary search with the fitness of eq. 4")
    proxy: Proxy = setting(lambda: Proxy(epochs=2, train_images=4000),
                           "rank correlation of one-shot scores and stand-alone accuracy")


#: the widths search's candidate fine-tuning settings (also read by the proxy stage's scoring)
FINETUNE_KEYS = ("finetune_epochs", "finetune_batch_size", "finetune_optimizer", "finetune_lr",
                 "finetune_schedule")


def check_devices(value) -> str | None:
    """What is wrong with a ``devices`` value (None when it is valid)."""
    if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return None
    return "use auto (every GPU of this machine; one process without GPUs) or a positive integer"


@dataclass(frozen=True)
class Params:
    profile: str = setting("cpu", "name of the profile, written beside every result")
    seed: int = setting(0, "seed of the supernets, of the candidate-scoring subsets and of the proxy models", low=0)
    seeds: list[int] = setting(lambda: [0, 1, 2], "training seeds: every final model is trained once per seed", low=0)
    search_seeds: list[int] = setting(lambda: [0], "seeds of the searches (the first one's genomes are 'Ours')", low=0)
    progress: bool = setting(False, "tqdm progress bars (off in executed notebooks)", tracked=False)
    devices: int | str = setting(
        1, "training processes on this machine: 1, N, or auto = one per GPU (torchrun, DDP)",
        tracked=False, check=check_devices)
    jobs: int = setting(
        1, "trainings at once on this device, each in a process of its own (uniform, retrain "
        "and proxy stages; where devices is 1): small models leave a GPU mostly idle",
        low=1, tracked=False)
    checkpoint_interval: float = setting(
        0.0, "seconds between epoch-end checkpoints of a training (0: every epoch; the last "
        "epoch always): resume granularity against checkpoint I/O", low=0.0, tracked=False)
    data: Data = setting(Data, "datasets and splits")
    groups: GroupsStudy = setting(GroupsStudy, "groups study (Phan et al. 2020)")
    widths: WidthsStudy = setting(WidthsStudy, "widths study (Shen et al. 2019)")


# ---- validation ----------------------------------------------------------------------------------

def closest(name: str, valid) -> str:
    hits = difflib.get_close_matches(name, list(valid), n=1)
    return f" (did you mean {hits[0]!r}?)" if hits else ""


def _typename(hint) -> str:
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    if typing.get_origin(hint) is list:
        return f"a list of {_typename(typing.get_args(hint)[0]).split(' ', 1)[-1]}s"
    args = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
    text = " or ".join(names.get(a, getattr(a, "__name__", str(a))) for a in args)
    return text + (" or null" if type(None) in typing.get_args(hint) else "")


def _scalar(value, hint, key: str, meta: Mapping) -> Any:
    if meta.get("check") is not None:
        problem = meta["check"](value)
        if problem:
            raise SettingsError(f"{key} = {value!r} is not valid: {problem}")
        return value
    optional = type(None) in typing.get_args(hint)
    base = next((a for a in typing.get_args(hint) if a is not type(None)), hint)
    bad = SettingsError(f"{key} = {value!r} is not {_typename(hint)}")
    if value is None:
        if optional:
            return None
        raise bad
    if base is bool:
        if not isinstance(value, bool):
            raise bad
    elif base is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
    elif base is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise bad
        value = float(value)
    elif base is str:
        if not isinstance(value, str) or not value:
            raise bad
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise SettingsError(f"{key} = {value!r} is not one of {', '.join(map(str, choices))}"
                            + (closest(value, choices) if isinstance(value, str) else ""))
    for bound, ok, text in (("low", lambda b: value >= b, ">="), ("above", lambda b: value > b, ">"),
                            ("high", lambda b: value <= b, "<=")):
        if meta.get(bound) is not None and not ok(meta[bound]):
            raise SettingsError(f"{key} = {value!r} is out of range: must be {text} {meta[bound]:g}")
    return value


def _build(cls, raw, key: str):
    """An instance of dataclass ``cls`` from the mapping ``raw`` (missing keys: defaults)."""
    if not isinstance(raw, Mapping):
        raise SettingsError(f"{key or 'the settings'} must be a mapping of "
                            f"{', '.join(f.name for f in dataclasses.fields(cls))}; got {raw!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    for name in raw:
        if name not in known:
            where = f"{key}." if key else ""
            raise SettingsError(f"unknown key {where}{name}{closest(str(name), known)}; "
                                f"valid keys{' of ' + key if key else ''}: {', '.join(known)}")
    values = {}
    for name, f in known.items():
        dotted = f"{key}.{name}" if key else name
        if name not in raw:
            continue
        values[name] = _value(raw[name], hints[name], dotted, f.metadata)
    return cls(**values)


def _value(raw, hint, key: str, meta: Mapping):
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if type(None) in args and any(typing.get_origin(a) is list for a in args):
        if raw is None:  # an optional list (``milestones: null``)
            return None
        hint = next(a for a in args if typing.get_origin(a) is list)
        origin = list
    if dataclasses.is_dataclass(hint):
        return _build(hint, raw, key)
    if origin is list:
        item = typing.get_args(hint)[0]
        if not isinstance(raw, list) or not raw:
            raise SettingsError(f"{key} = {raw!r} is not a non-empty {_typename(hint)[2:]}")
        values = [_scalar(v, item, f"{key}[{i}]", meta) for i, v in enumerate(raw)]
        if len(set(values)) != len(values):
            raise SettingsError(f"{key} = {raw!r} repeats a value; each must appear once")
        return values
    if origin is dict:
        item = typing.get_args(hint)[1]
        valid = STUDIES[key.split(".")[0]]
        if not isinstance(raw, Mapping) or not raw:
            raise SettingsError(f"{key} must map family names ({', '.join(valid)}) to their settings")
        for name in raw:
            if name not in valid:
                raise SettingsError(f"unknown family {key}.{name}{closest(str(name), valid)}; "
                                    f"valid families of {key.split('.')[0]}: {', '.join(valid)}")
        return {name: _build(item, raw[name] if raw[name] is not None else {}, f"{key}.{name}")
                for name in raw}
    return _scalar(raw, hint, key, meta)


def _check_consistency(params: Params) -> None:
    for name, fam in params.groups.families.items():
        if fam.max_ops is not None and fam.budget_position is not None:
            raise SettingsError(f"groups.families.{name}: set max_ops or budget_position, not both "
                                f"(max_ops {fam.max_ops:g}, budget_position {fam.budget_position:g})")
    vgg = params.widths.families.get("vgg_small")
    if vgg is not None and vgg.small_input:
        raise SettingsError("widths.families.vgg_small.small_input = true: VGG-small has no stem "
                            "to change (its 3x3 stem suits 28x28 and 32x32 images); set false")
    for study in ("groups", "widths"):
        search = getattr(params, study).search
        where = f"{study}.search"
        if search.topk > search.population:
            raise SettingsError(f"{where}.topk = {search.topk} exceeds population = {search.population}")
        if search.crossovers and search.topk < 2:
            raise SettingsError(f"{where}.crossovers = {search.crossovers} need topk >= 2 (two parents)")
        if search.iterations > 1 and search.crossovers + search.mutations == 0:
            raise SettingsError(f"{where}: iterations = {search.iterations} need crossovers + mutations >= 1")


def from_dict(raw: Mapping, source: str = "settings") -> Params:
    """Validated :class:`Params` from a nested mapping; errors are prefixed with ``source``."""
    try:
        params = _build(Params, raw if raw is not None else {}, "")
        _check_consistency(params)
    except SettingsError as err:
        raise SettingsError(f"{source}: {err}") from None
    return params


def to_dict(params: Params) -> dict:
    """The nested plain-dict form of ``params`` (what params.yaml holds)."""
    return dataclasses.asdict(params)


# ---- files and paths -------------------------------------------------------------------------------

def repo_root(start: str | Path | None = None) -> Path:
    """The repository root: the nearest folder upwards holding ``dvc.yaml`` (else ``start``)."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "dvc.yaml").is_file():
            return folder
    return here


def resolve(path: str | Path, root: Path | None = None) -> Path:
    """``path`` itself if absolute, else relative to the repository root."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else (root or repo_root()) / path


def read_yaml(path: str | Path) -> Any:
    """YAML 1.2 (``no``/``yes``/``on`` stay strings, as DVC reads them)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    path = Path(path)
    if not path.is_file():
        raise SettingsError(f"{path}: no such settings file")
    try:
        return YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    except YAMLError as err:
        raise SettingsError(f"{path}: not valid YAML: {err}") from None


def load(path: str | Path = "params.yaml", overrides: Mapping[str, Any] | None = None) -> Params:
    """Read and validate a settings file; ``overrides`` are dotted keys set on top of it."""
    path = resolve(path)
    raw = read_yaml(path) or {}
    for dotted, value in (overrides or {}).items():
        raw = _set_dotted(raw, dotted, value)
    return from_dict(raw, str(path))


def _set_dotted(raw: Mapping, dotted: str, value) -> dict:
    raw = dict(raw)
    head, _, rest = dotted.partition(".")
    if not rest:
        raw[head] = value
        return raw
    raw[head] = _set_dotted(raw.get(head) or {}, rest, value)
    return raw


# ---- stage views ----------------------------------------------------------------------------------

def study_of(family: str) -> str:
    for study, families in STUDIES.items():
        if family in families:
            return study
    raise SettingsError(f"unknown family {family!r}{closest(str(family), FAMILIES)}; "
                        f"known: {', '.join(FAMILIES)}")


def _fields(cls) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def stage_keys(stage: str, family: str) -> dict[str, str]:
    """Flat name -> dotted key of every setting that ``stage`` reads for ``family``."""
    if stage not in STAGES:
        raise SettingsError(f"unknown stage {stage!r}; known: {', '.join(STAGES)}")
    study = study_of(family)
    fam = f"{study}.families.{family}"
    keys = {"profile": "profile", "seed": "seed", "progress": "progress",
            "dataset": f"{fam}.dataset", "data_root": f"{fam}.data_root", "resize": f"{fam}.resize"}
    if stage in ("uniform", "supernet", "search", "retrain", "proxy"):
        keys["devices"] = "devices"
    if stage in ("uniform", "supernet", "retrain", "proxy"):
        keys["checkpoint_interval"] = "checkpoint_interval"
    if stage in ("uniform", "retrain", "proxy"):
        keys["jobs"] = "jobs"
    if stage in ("uniform", "retrain"):
        keys["seeds"] = "seeds"
    if stage in ("search", "retrain"):
        keys["search_seeds"] = "search_seeds"
    tested = stage in ("uniform", "retrain")  # only these evaluate on the whole test split
    keys.update({k: f"data.{k}" for k in _fields(Data)
                 if k != "prepare" and (tested or k != "test_subset")})
    model = "groups.model" if study == "groups" else fam
    keys["width_mult"] = f"{model}.width_mult"
    keys["small_input"] = f"{model}.small_input"
    if study == "groups":
        keys["activation_scaling"] = "groups.model.activation_scaling"
    if study == "groups" and stage in ("supernet", "search", "proxy"):
        keys["max_groups"] = "groups.model.max_groups"
    if stage in ("uniform", "supernet", "retrain", "proxy"):
        # groups: one recipe for the study; widths: one per family (dataset-dependent recipes)
        base = study if study == "groups" else fam
        keys["epochs"] = f"{base}.epochs.{stage}" if stage != "proxy" else f"{study}.proxy.epochs"
        keys.update({k: f"{base}.train.{k}" for k in _fields(Recipe)})
    if stage == "proxy":
        keys.update({k: f"{study}.proxy.{k}" for k in _fields(Proxy) if k != "epochs"})
        scoring = (("calib_images", "val_images", "eval_batch_size")
                   + (FINETUNE_KEYS if study == "widths" else ("group_conv",)))
        keys.update({k: f"{study}.search.{k}" for k in scoring})
    if stage == "retrain" and study == "groups":
        keys["fig5_epochs"] = "groups.epochs.fig5"
    if stage == "supernet" and study == "widths":
        keys["supernet_sampling"] = "widths.supernet_sampling"
    if study == "widths" and stage in ("supernet", "search", "proxy", "retrain"):
        # what the supernet and the search train on (retrain checks its upstream with it)
        keys["search_per_class"] = f"{fam}.search_per_class"
    if stage == "search":
        keys.update({k: f"{study}.search.{k}"
                     for k in _fields(GroupsSearch if study == "groups" else WidthsSearch)})
        if study == "groups":
            keys.update({k: f"{fam}.{k}" for k in ("budget_position", "max_ops")})
    return keys


def tracked_keys(stage: str, family: str) -> set[str]:
    """The dotted keys of :func:`stage_keys` that can change a result (DVC's ``params:``)."""
    untracked = {f.name for f in dataclasses.fields(Params) if not f.metadata["tracked"]}
    return {k for k in stage_keys(stage, family).values() if k not in untracked}


def pipeline_keys(params: Params) -> set[str]:
    """Every dotted key that a stage of the pipeline depends on (the union of ``dvc.yaml``'s
    ``params:`` lists) for the families of ``params``."""
    keys = {"data.prepare"}
    for study in STUDIES:
        for family in getattr(params, study).families:
            for stage in STAGES:
                keys |= tracked_keys(stage, family)
    return keys


def unspelled(raw: Mapping, params: Params | None = None) -> dict[str, Any]:
    """The keys :func:`pipeline_keys` names that ``raw`` leaves out, with the defaults that
    :func:`from_dict` fills in for them (``params``: ``from_dict(raw)`` when already made).

    Loading fills a missing key with its default, but ``dvc repro`` reads ``params.yaml``
    itself and stops at the first stage whose ``params:`` list names a key the file lacks
    (``Parameters 'groups.epochs.fig5' are missing``), after every stage before it ran. The
    pipeline's ``params`` stage therefore refuses such a file up front.
    """
    params = from_dict(raw, "settings") if params is None else params
    out = {}
    for dotted in sorted(pipeline_keys(params)):
        node: Any = raw
        for part in dotted.split("."):
            if not isinstance(node, Mapping) or part not in node:
                out[dotted] = _get(params, dotted)
                break
            node = node[part]
    return out


def _get(params: Params, dotted: str):
    value: Any = params
    for part in dotted.split("."):
        value = value[part] if isinstance(value, dict) else getattr(value, part)
    return value


@dataclass(frozen=True)
class View:
    """The settings one stage reads for one family, by flat name (``view.epochs``).

    ``keys`` maps each flat name to its dotted key; ``runs_dir`` / ``metrics_dir`` are where the
    stage writes, ``upstream_dir`` where it reads earlier stages' results (absolute paths).
    """

    stage: str
    family: str
    values: Mapping[str, Any]
    keys: Mapping[str, str]
    root: Path
    runs_dir: Path
    metrics_dir: Path
    upstream_dir: Path

    @property
    def study(self) -> str:
        return study_of(self.family)

    def __getattr__(self, name: str):
        values = self.__dict__.get("values", {})
        if name in values:
            return values[name]
        raise AttributeError(f"stage {self.__dict__.get('stage')!r} of "
                             f"{self.__dict__.get('family')!r} has no setting {name!r}; it reads: "
                             f"{', '.join(values)}")

    def path(self, value: str | Path) -> Path:
        return resolve(value, self.root)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.values)

    def __repr__(self) -> str:
        width = max(map(len, self.values))
        lines = [f"{self.stage} settings of {self.family} (writes {self.runs_dir}):"]
        lines += [f"  {k:<{width}} = {v!r:<12}  # {self.keys[k]}" for k, v in self.values.items()]
        return "\n".join(lines)


#: ``-p small_input false`` reaches a notebook as the string "false" (papermill reads only
#: True/False/None): the YAML literals are taken as such, any other string stays a string
_CLI_LITERALS = {"true": True, "false": False, "null": None}


def _flat_overrides(stage: str, family: str, overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """Dotted keys of ``overrides``: a flat name must be a setting this stage reads; a dotted
    key may be any declared setting (so one override set can serve several stages)."""
    keys = stage_keys(stage, family)
    dotted = {}
    for name, value in (overrides or {}).items():
        value = _CLI_LITERALS.get(value, value) if isinstance(value, str) else value
        if name in keys:
            dotted[keys[name]] = value
        elif "." in name:  # a full key: checked against the declaration by load()
            dotted[name] = value
        else:
            raise SettingsError(f"unknown setting {name!r} for stage {stage} of {family}"
                                f"{closest(str(name), list(keys) + list(keys.values()))}; "
                                f"it reads: {', '.join(keys)}")
    return dotted


def view(stage: str, family: str, params_file: str | Path = "params.yaml",
         overrides: Mapping[str, Any] | None = None, *, runs_dir: str | Path = "runs",
         metrics_dir: str | Path = "metrics", upstream_dir: str | Path | None = None,
         root: str | Path | None = None) -> View:
    """Validate ``params_file`` (+ ``overrides``) and return the view of ``stage``/``family``."""
    root = repo_root(root)
    keys = stage_keys(stage, family)
    params = load(resolve(params_file, root), _flat_overrides(stage, family, overrides))
    families = getattr(params, study_of(family)).families
    if family not in families:
        raise SettingsError(f"{params_file}: family {family} is not in "
                            f"{study_of(family)}.families ({', '.join(families)})")
    values = {name: _get(params, dotted) for name, dotted in keys.items()}
    runs = resolve(runs_dir, root)
    return View(stage, family, values, keys, root, runs, resolve(metrics_dir, root),
                resolve(upstream_dir, root) if upstream_dir is not None else runs)


# ---- notebooks ------------------------------------------------------------------------------------

#: the tagged parameters cell of the stage notebooks 01-04 (05 has runs_dir and reports_dir)
NOTEBOOK_PARAMETERS = ("family", "params_file", "overrides", "runs_dir", "metrics_dir",
                       "upstream_dir")


def injected_names(namespace: Mapping[str, Any]) -> list[str]:
    """Names that papermill injected (its ``# Parameters`` cells, found in IPython's ``In``)."""
    names: list[str] = []
    for source in namespace.get("In", []) or []:
        if not isinstance(source, str) or not source.lstrip().startswith("# Parameters"):
            continue
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        names += [t.id for node in tree.body if isinstance(node, ast.Assign)
                  for t in node.targets if isinstance(t, ast.Name)]
    return names


def for_notebook(namespace: Mapping[str, Any], stage: str) -> View:
    """The stage view of a notebook run: its parameters cell, ``overrides`` and ``-p`` values.

    ``papermill -p epochs 10`` injects ``epochs = 10``: a name that is a setting of this stage
    counts as an override; any other injected name is an error (papermill only warns).
    """
    overrides = dict(namespace.get("overrides") or {})
    family = namespace.get("family")
    study_of(family)
    keys = stage_keys(stage, family)
    for name in injected_names(namespace):
        if name in NOTEBOOK_PARAMETERS:
            continue
        if name not in keys:
            valid = list(NOTEBOOK_PARAMETERS) + list(keys)
            raise SettingsError(f"unknown notebook parameter {name!r}{closest(name, valid)}; "
                                f"notebook parameters: {', '.join(NOTEBOOK_PARAMETERS)}; "
                                f"settings of stage {stage}: {', '.join(keys)}")
        overrides[name] = namespace[name]
    return view(stage, family, namespace.get("params_file", "params.yaml"), overrides,
                runs_dir=namespace.get("runs_dir", "runs"),
                metrics_dir=namespace.get("metrics_dir", "metrics"),
                upstream_dir=namespace.get("upstream_dir"))


# ---- command line ---------------------------------------------------------------------------------

def describe_settings(cls=Params, prefix: str = "", instance=None) -> list[str]:
    """One line per setting: dotted key, type, default, comment (defaults as ``cls()`` has them,
    so a section whose default differs by study shows that study's)."""
    lines = []
    hints = typing.get_type_hints(cls)
    instance = cls() if instance is None else instance
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        hint = hints[f.name]
        default = getattr(instance, f.name)
        if dataclasses.is_dataclass(hint):
            lines += describe_settings(hint, key + ".", default)
        elif typing.get_origin(hint) is dict:
            item = typing.get_args(hint)[1]
            lines += describe_settings(item, key + ".<family>.")
        else:
            extra = f" [{'|'.join(map(str, f.metadata['choices']))}]" if f.metadata["choices"] else ""
            lines.append(f"{key} ({_typename(hint)}{extra}) = {default!r}: {f.metadata['doc']}")
    return lines


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Check a settings file against bnnlib.settings.")
    parser.add_argument("params", nargs="?", default="params.yaml")
    parser.add_argument("--list", action="store_true", help="print every setting and exit")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(describe_settings()))
        return 0
    path = resolve(args.params)
    try:
        raw = read_yaml(path) or {}
        params = from_dict(raw, str(path))  # what load() does, keeping the file's own keys
    except SettingsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    missing = unspelled(raw, params)
    if missing:
        listed = "; ".join(f"{k} (default: {v!r})" for k, v in missing.items())
        print(f"error: {path} leaves {len(missing)} setting(s) that pipeline "
              f"stages depend on to their defaults: {listed}. `dvc repro` needs each written "
              f"in the file (it stops at the first stage that reads a missing one); every "
              f"profile under profiles/ spells them all, and `python -m bnnlib.settings --list` "
              f"prints each with its default", file=sys.stderr)
        return 1
    print(f"{resolve(args.params)}: valid (profile {params.profile}; groups families "
          f"{', '.join(params.groups.families)}; widths families {', '.join(params.widths.families)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

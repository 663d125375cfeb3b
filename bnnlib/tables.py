"""The papers' tables rebuilt from our result files, the paper's values beside ours.

``load_results(runs_dir)`` reads every ``result.json`` under ``runs/`` (layout and fields in
``docs/results_schema.md``); one builder per paper table returns a pandas DataFrame with every
printed row of that table, whether or not we ran it; :mod:`bnnlib.table_text` renders them to
Markdown, CSV and LaTeX.

Conventions of every table DataFrame
    - ``paper_*`` columns hold the paper's numbers (floats; NaN where the paper prints a dash or
      a bound), ``ours_*`` columns ours (NaN where not run). Accuracies are in percent, rounded to
      2 decimals; OPs are in the unit of the paper's column, named in the column
      (``_1e8``: units of 10^8, ``_M``: millions).
    - ``source``: ``"this run"`` for rows this study re-runs, ``"cited, not run here"`` for rows
      that report other papers' results (their ``ours_*`` cells stay empty).
    - ``key``: our variant (or metric) name, the stable id of a row (paper labels can repeat:
      Shen et al. Table 2 prints "ABC{5/3}" twice).
    - ``df.attrs``: ``name``, ``title``, ``caption`` (paper and our dataset/profile/input),
      ``paper_text`` (``{(row, column): text}``: the paper's numbers as printed, used when
      rendering) and ``formats`` (how each value column is rendered).

Choices where the papers leave room
    - Our accuracies are test-split accuracies of the final (last-epoch) model; the papers
      report ImageNet / CIFAR-10 validation accuracy.
    - Our OPs are ``bnnlib.flops.count`` on the profile's input size (Bi-Real convention:
      real MACs + binary MACs / 64), the counterpart of the papers' "FLOPs".
    - Speedup (Shen et al.) = OPs of our real-valued 1x model / OPs of the row's model: the
      paper's numbers are FLOPs(FP) / FLOPs(row) (608 / 45.3 = 13.4). Our FP row gets 1.0.
    - Phan et al. Table 2's "#GPU-hours" (of searching) becomes the measured time of our
      evolutionary search in hours (its candidates' scoring seconds summed over the search
      log, earlier calls of a resumed search included), on the device named in ``ours_unit``.
    - Phan et al. print the same numbers for "Groups = 1" of M1 and M2 (the same network);
      a missing ``mobilenet_m2/groups1`` result is filled from ``mobilenet_m1/groups1``, noted.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from . import paper_values as pv
from .stats import summary

THIS_RUN = "this run"
CITED = "cited, not run here"
NOT_RUN = "not run"

MODEL_STAGES = ("uniform", "retrain")
MODEL_COLUMNS = [
    "stage", "study", "family", "variant", "genome", "model_kwargs", "binary", "ops", "fp_macs",
    "binary_macs", "memory_bits", "test_top1", "test_top5", "test_loss", "monitor_top1", "epochs",
    "train_seconds", "history", "dataset", "profile", "input_size", "same_as", "seed", "path",
]
SEARCH_COLUMNS = [
    "study", "family", "method", "best", "best_fitness", "best_acc", "best_ops", "max_ops", "lam",
    "ops_ref", "evaluations", "search_seconds", "device", "history", "dataset", "profile", "seed",
    "path",
]
SUPERNET_COLUMNS = [
    "study", "family", "kind", "epochs", "train_seconds", "val_top1_largest", "dataset", "profile",
    "path",
]

DATASET_NAMES = {"fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10", "imagenet": "ImageNet",
                 "mnist": "MNIST", "synthetic": "synthetic data"}


# --------------------------------------------------------------------------------------------
# Loading results


@dataclass
class Results:
    """Every result file under a runs directory, as three DataFrames.

    ``models``: one row per trained model *and seed* (stages ``uniform`` and ``retrain``,
    ``runs/<stage>/<family>/<variant>/seed<k>/result.json``), columns ``MODEL_COLUMNS``;
    ``searches``: one row per search and search seed (``SEARCH_COLUMNS``); ``supernets``: one
    row per supernet (``SUPERNET_COLUMNS``). ``skipped`` lists unreadable files and why.
    """

    models: pd.DataFrame
    searches: pd.DataFrame
    supernets: pd.DataFrame
    runs_dir: Path
    skipped: list[str] = field(default_factory=list)

    def records(self, family: str, variant: str) -> list[dict]:
        """The per-seed result records of ``family``/``variant``, by seed ([] if not run).

        A record that only points elsewhere (``same_as`` and no accuracy) is resolved; the
        M2 "Groups = 1" network is M1's (see the module docstring).
        """
        recs = _select(self.models, family=family, variant=variant)
        if (not recs and (family, variant) == ("mobilenet_m2", "groups1")):
            recs = [{**r, "family": family, "same_as": "mobilenet_m1/groups1"}
                    for r in _select(self.models, family="mobilenet_m1", variant="groups1")]
        out = []
        for rec in recs:
            if is_missing(rec.get("test_top1")) and rec.get("same_as"):
                fam, _, var = str(rec["same_as"]).partition("/")
                target = [t for t in _select(self.models, family=fam, variant=var)
                          if t.get("seed") == rec.get("seed")]
                if target:
                    rec = {**target[0], "family": family, "variant": variant, "same_as": rec["same_as"]}
            out.append(rec)
        return out

    def samples(self, family: str, variant: str, name: str) -> list[float]:
        """Per-seed values of field ``name`` (``test_top1``, ``ops``, ...), missing ones left out."""
        return [float(r[name]) for r in self.records(family, variant) if not is_missing(r.get(name))]

    def model(self, family: str, variant: str) -> dict | None:
        """One record for ``family``/``variant`` (None if not run): the first seed's, with the
        seed-dependent numbers (``AGGREGATED``) replaced by their mean over seeds; ``n`` seeds,
        ``seeds`` and ``<field>_sd`` (sample standard deviation, NaN for one seed) added."""
        recs = self.records(family, variant)
        if not recs:
            return None
        out = dict(recs[0], n=len(recs), seeds=[r.get("seed") for r in recs])
        for name in AGGREGATED:
            values = [float(r[name]) for r in recs if not is_missing(r.get(name))]
            if values:
                spread = summary(values)
                out[name], out[f"{name}_sd"] = spread.mean, spread.sd
        return out

    def search(self, family: str, method: str, seed: int | None = None) -> dict | None:
        """The search record of ``family``/``method`` (None if not run): search seed ``seed``,
        or the first search seed (the one stage 04 retrains as "Ours")."""
        recs = _select(self.searches, family=family, method=method)
        if seed is not None:
            recs = [r for r in recs if r.get("seed") == seed]
        return recs[0] if recs else None

    def supernet(self, family: str) -> dict | None:
        """The supernet record of ``family`` (None if not run)."""
        recs = _select(self.supernets, family=family)
        return recs[-1] if recs else None


#: fields of a model record that vary by seed, averaged by :meth:`Results.model`
AGGREGATED = ("test_top1", "test_top5", "test_loss", "monitor_top1", "ops", "memory_bits",
              "train_seconds")


def _select(frame: pd.DataFrame, **match) -> list[dict]:
    """Rows of ``frame`` matching every ``column=value``, as dicts ordered by ``seed``."""
    if frame.empty:
        return []
    mask = pd.Series(True, index=frame.index)
    for col, value in match.items():
        mask &= frame[col] == value
    rows = [{k: (None if is_missing(v) else v) for k, v in row.items()}
            for row in frame[mask].to_dict("records")]
    return sorted(rows, key=lambda r: (r.get("seed") is None, r.get("seed") or 0, str(r.get("path"))))


def is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return False


def load_results(runs_dir: str | Path = "runs") -> Results:
    """Read every ``result.json`` under ``runs_dir`` (which may be missing or empty).

    Files are classified by their place (``runs/<stage>/<family>/<variant>/result.json`` with
    stage ``uniform``/``retrain``, ``runs/search/<family>/<method>/result.json``,
    ``runs/supernet/<family>/result.json``); fields the file lacks are filled from its path
    where the path says them. Unreadable or unplaceable files are skipped with a warning and
    listed in ``Results.skipped``; loading never raises on bad files.
    """
    root = Path(runs_dir)
    models, searches, supernets, skipped = [], [], [], []
    files = sorted(root.rglob("result.json")) if root.is_dir() else []
    for path in files:
        parts = path.relative_to(root).parts[:-1]
        try:
            rec = json.loads(path.read_text())
            if not isinstance(rec, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as err:
            skipped.append(f"{path}: {err}")
            continue
        rec = dict(rec, path=str(path))
        if parts and parts[0] == "proxy":  # stage 06's short-trained models: proxy_records()
            continue
        if parts and parts[-1].startswith("seed") and parts[-1][4:].isdigit():
            rec.setdefault("seed", int(parts[-1][4:]))
        if parts and parts[0] == "search" and len(parts) >= 3:
            rec.setdefault("family", parts[1])
            rec.setdefault("method", parts[2])
            searches.append(rec)
        elif parts and parts[0] == "supernet" and len(parts) >= 2:
            rec.setdefault("family", parts[1])
            supernets.append(rec)
        elif parts and parts[0] in MODEL_STAGES and len(parts) >= 3:
            rec["stage"] = parts[0]
            rec.setdefault("family", parts[1])
            rec.setdefault("variant", parts[2])
            models.append(rec)
        elif "method" in rec and "family" in rec:
            searches.append(rec)
        elif "variant" in rec and "family" in rec:
            rec.setdefault("stage", parts[0] if parts else "")
            models.append(rec)
        else:
            skipped.append(f"{path}: not a model, search or supernet result")
    for msg in skipped:
        warnings.warn(f"skipped result file {msg}", stacklevel=2)
    return Results(_frame(models, MODEL_COLUMNS), _frame(searches, SEARCH_COLUMNS),
                   _frame(supernets, SUPERNET_COLUMNS), root, skipped)


def _frame(records: list[dict], columns: list[str]) -> pd.DataFrame:
    """Records as a DataFrame with at least ``columns``; all-number columns become floats."""
    extra = sorted({k for r in records for k in r} - set(columns))
    frame = pd.DataFrame([{c: r.get(c) for c in columns + extra} for r in records],
                         columns=columns + extra, dtype=object)
    for col in frame.columns:
        values = frame[col].dropna()
        if len(values) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                               for v in values):
            frame[col] = frame[col].astype(float)
    return frame


# --------------------------------------------------------------------------------------------
# Helpers shared by the builders


def _pct(fraction: Any) -> float:
    """A fraction in [0, 1] as a percentage with 2 decimals (NaN if missing)."""
    if is_missing(fraction):
        return math.nan
    return round(100.0 * float(fraction), 2)


def _acc(rec: dict | None, name: str, col: str) -> dict:
    """``{col: mean %, col_sd: sd %, col_n: seeds}`` of an aggregated record's accuracy
    ``name`` (``test_top1``/``test_top5``, see ``Results.model``)."""
    sd = rec.get(f"{name}_sd") if rec else None
    return {col: _pct(rec and rec.get(name)), f"{col}_sd": _pct(sd) if sd is not None else math.nan,
            f"{col}_n": float(rec["n"]) if rec and not is_missing(rec.get(name)) else math.nan}


def _scaled(value: Any, unit: float) -> float:
    return math.nan if is_missing(value) else float(value) / unit


def _size_text(size: Any) -> str:
    if isinstance(size, (list, tuple)) and size:
        return "x".join(str(int(s)) for s in size)
    return "input size unknown"


def ours_setting(records: list[dict | None]) -> str:
    """'Fashion-MNIST, profile cpu, 1x28x28, width_mult 0.5' summarising the records used.

    Differing settings are all listed (joined by '; '); no record gives 'not run yet'.
    """
    seen: list[str] = []
    for rec in records:
        if not rec:
            continue
        dataset = DATASET_NAMES.get(rec.get("dataset"), rec.get("dataset") or "dataset unknown")
        text = f"{dataset}, profile {rec.get('profile') or 'unknown'}, {_size_text(rec.get('input_size'))}"
        kwargs = rec.get("model_kwargs") or {}
        if isinstance(kwargs, dict) and kwargs.get("width_mult", 1) not in (1, 1.0, None):
            text += f", width_mult {kwargs['width_mult']}"
        if text not in seen:
            seen.append(text)
    return "; ".join(seen) if seen else "not run yet"


def _finish(frame: pd.DataFrame, name: str, title: str, caption: str,
            paper_text: dict, formats: dict[str, str], row_formats: dict[str, str] | None = None
            ) -> pd.DataFrame:
    frame.attrs.update(name=name, title=title, caption=caption, paper_text=paper_text,
                       formats=formats, row_formats=row_formats or {})
    return frame


# --------------------------------------------------------------------------------------------
# Phan et al. 2020


def phan_table1(results: Results) -> pd.DataFrame:
    """Phan et al. Table 1: uniform groups 1/4/16, random groups and searched groups, per module.

    Rows: M1, M2, M3 x (Groups = 1, Groups = 4, Groups = 16, Random Group, Ours) = 15.
    Ours: ``runs/uniform/<module>/groups{1,4,16}`` and ``runs/retrain/<module>/{random,searched}``.
    """
    rows, paper_text, used = [], {}, []
    for module in pv.PHAN_MODULES:
        for row in pv.PHAN_TABLE1[module]:
            rec = results.model(module, row.key)
            used.append(rec)
            i = len(rows)
            for col, dst in (("top1", "paper_top1"), ("top5", "paper_top5"),
                             ("flops", "paper_flops_1e8")):
                paper_text[(i, dst)] = row.values[col]
            note = ""
            if rec and rec.get("same_as"):
                note = f"same network as {rec['same_as']}"
            rows.append({
                "module": pv.PHAN_MODULE_LABELS[module], "model": row.label, "key": row.key,
                "source": THIS_RUN,
                "paper_top1": pv.number(row.values["top1"]),
                **_acc(rec, "test_top1", "ours_top1"),
                "paper_top5": pv.number(row.values["top5"]),
                **_acc(rec, "test_top5", "ours_top5"),
                "paper_flops_1e8": pv.number(row.values["flops"]),
                "ours_ops_1e8": _scaled(rec and rec.get("ops"), 1e8),
                "note": note,
            })
    caption = (f"Phan et al. 2020, Table 1: uniform groups, random groups and searched groups per "
               f"module. Paper: {pv.PHAN_DATASET}. Ours: {ours_setting(used)}.")
    return _finish(pd.DataFrame(rows), "phan_table1",
                   "Phan et al. Table 1 - uniform vs random vs searched groups", caption, paper_text,
                   {"ours_top1": "pct", "ours_top5": "pct", "ours_ops_1e8": "ops"})


def phan_table2(results: Results) -> pd.DataFrame:
    """Phan et al. Table 2 in its printed orientation: one row per metric, one column per module.

    Rows: Top-1 (%), Top-5 (%), FLOPs, MaxFLOPs (x10^8), #GPU-hours. Ours: the retrained
    searched model (``runs/retrain/<module>/searched``), the budget and scoring time of the
    evolutionary search (``runs/search/<module>/evolution``). The #GPU-hours row holds our
    search hours on the device named in ``ours_unit`` (the paper's GPU-hours count searching
    only; supernet training is not included, as in the paper).
    """
    modules = pv.PHAN_MODULES
    models = {m: results.model(m, "searched") for m in modules}
    searches = {m: results.search(m, "evolution") for m in modules}
    devices = sorted({str(s.get("device")) for s in searches.values() if s and s.get("device")})
    ours_values = {
        "top1": {m: _pct(models[m] and models[m].get("test_top1")) for m in modules},
        "top5": {m: _pct(models[m] and models[m].get("test_top5")) for m in modules},
        "flops": {m: _scaled(models[m] and models[m].get("ops"), 1e8) for m in modules},
        "max_flops": {m: _scaled(searches[m] and searches[m].get("max_ops"), 1e8) for m in modules},
        "search_hours": {m: _scaled(searches[m] and searches[m].get("search_seconds"), 3600.0)
                         for m in modules},
    }
    units = {"top1": "%", "top5": "%", "flops": "OPs, x1e8", "max_flops": "OPs budget, x1e8",
             "search_hours": "hours of evolutionary search on "
                             + (", ".join(devices) or "an unrecorded device")}
    rows, paper_text = [], {}
    for i, row in enumerate(pv.PHAN_TABLE2):
        entry = {"metric": row.label, "key": row.key, "source": THIS_RUN}
        for m in modules:
            label = pv.PHAN_MODULE_LABELS[m]
            entry[f"paper_{label}"] = pv.number(row.values[m])
            entry[f"ours_{label}"] = ours_values[row.key][m]
            paper_text[(i, f"paper_{label}")] = row.values[m]
            if row.key in ("top1", "top5"):
                spread = _acc(models[m], f"test_{row.key}", f"ours_{label}")
                entry[f"ours_{label}_sd"] = spread[f"ours_{label}_sd"]
                entry[f"ours_{label}_n"] = spread[f"ours_{label}_n"]
        entry["ours_unit"] = units[row.key]
        rows.append(entry)
    # the searches ran in the same setting; their records lack model_kwargs (width_mult)
    setting = ours_setting(list(models.values()))
    if setting == "not run yet":
        setting = ours_setting(list(searches.values()))
    caption = (f"Phan et al. 2020, Table 2: searched group architectures under a FLOP budget "
               f"(MaxFLOPs). Paper: {pv.PHAN_DATASET}, #GPU-hours of searching. Ours: "
               f"{setting}; the last row "
               f"is our measured search time in hours on {', '.join(devices) or 'the device used'}.")
    row_formats = {"top1": "pct", "top5": "pct", "flops": "ops", "max_flops": "ops",
                   "search_hours": "hours"}
    return _finish(pd.DataFrame(rows), "phan_table2",
                   "Phan et al. Table 2 - searched modules under a FLOP budget", caption,
                   paper_text, {}, row_formats)


def _phan_ours_rows(results: Results, rows, build: Callable[[Any, dict | None], dict],
                    paper_cols: dict[str, str]) -> tuple[list[dict], dict, list]:
    out, paper_text, used = [], {}, []
    for i, row in enumerate(rows):
        rec = None if row.cited else results.model(row.key, "searched")
        used.append(rec)
        entry = {"model": row.label, "key": row.key, "source": CITED if row.cited else THIS_RUN,
                 "cited": row.cited or ""}
        for src, dst in paper_cols.items():
            printed = row.values.get(src)
            entry[dst] = pv.number(printed) if src != "w_a" else printed
            if printed is not None and src != "w_a":
                paper_text[(i, dst)] = printed
        entry.update(build(row, rec))
        out.append(entry)
    return out, paper_text, used


def phan_table3(results: Results) -> pd.DataFrame:
    """Phan et al. Table 3: top-1/top-5 of prior binary networks (cited) and Ours (M1-M3).

    All 15 printed rows; the 12 literature rows are cited (ImageNet numbers of other papers),
    the three "Ours" rows take our retrained searched model of each module.
    """
    def build(row, rec):
        return {**_acc(rec, "test_top1", "ours_top1"), **_acc(rec, "test_top5", "ours_top5")}

    rows, paper_text, used = _phan_ours_rows(
        results, pv.PHAN_TABLE3, build, {"w_a": "w_a", "top1": "paper_top1", "top5": "paper_top5"})
    frame = pd.DataFrame(rows)[["model", "key", "source", "cited", "w_a", "paper_top1",
                                "ours_top1", "ours_top1_sd", "ours_top1_n", "paper_top5",
                                "ours_top5", "ours_top5_sd", "ours_top5_n"]]
    caption = (f"Phan et al. 2020, Table 3: accuracy against the state of the art. Paper: "
               f"{pv.PHAN_DATASET}; cited rows are other papers' ImageNet results, not run here. "
               f"Ours (searched groups, retrained): {ours_setting(used)}.")
    return _finish(frame, "phan_table3", "Phan et al. Table 3 - accuracy vs the state of the art",
                   caption, paper_text, {"ours_top1": "pct", "ours_top5": "pct"})


def phan_table4(results: Results) -> pd.DataFrame:
    """Phan et al. Table 4: FLOPs of prior binary networks (cited) and Ours (M1-M3).

    CI-BCNN-18 (add) is printed as "> 1.54x10^8": its number is NaN and the text is kept.
    """
    def build(row, rec):
        note = "paper prints a lower bound" if row.values["flops"].startswith(">") else ""
        return {"ours_ops_1e8": _scaled(rec and rec.get("ops"), 1e8), "note": note}

    rows, paper_text, used = _phan_ours_rows(results, pv.PHAN_TABLE4, build,
                                             {"flops": "paper_flops_1e8"})
    frame = pd.DataFrame(rows)[["model", "key", "source", "cited", "paper_flops_1e8",
                                "ours_ops_1e8", "note"]]
    caption = (f"Phan et al. 2020, Table 4: computational cost. Paper: FLOPs (x10^8) at "
               f"{pv.PHAN_DATASET}; cited rows are other papers' numbers, not run here. Ours (OPs "
               f"x10^8, real MACs + binary MACs / 64): {ours_setting(used)}.")
    return _finish(frame, "phan_table4", "Phan et al. Table 4 - computational cost", caption,
                   paper_text, {"ours_ops_1e8": "ops"})


# --------------------------------------------------------------------------------------------
# Shen et al. 2019


def _shen_table(results: Results, family: str, rows, with_memory: bool,
                with_top5: bool) -> tuple[pd.DataFrame, dict, list, dict]:
    fp = results.model(family, "fp")
    fp_ops = fp.get("ops") if fp else None
    out, paper_text, used = [], {}, []
    for i, row in enumerate(rows):
        rec = None if row.cited else results.model(family, row.key)
        used.append(rec)
        ops = rec.get("ops") if rec else None
        speedup = math.nan
        if not is_missing(ops) and not is_missing(fp_ops) and ops:
            speedup = float(fp_ops) / float(ops)
        entry = {"model": row.label, "key": row.key, "source": CITED if row.cited else THIS_RUN,
                 "cited": row.cited or "",
                 "paper_flops_M": pv.number(row.values["flops"]),
                 "ours_ops_M": _scaled(ops, 1e6),
                 "paper_speedup_x": pv.number(row.values["speedup"]),
                 "ours_speedup_x": speedup}
        text = {"paper_flops_M": row.values["flops"], "paper_speedup_x": row.values["speedup"]}
        if with_memory:
            entry["paper_memory_Mbit"] = pv.number(row.values["memory"])
            entry["ours_memory_Mbit"] = _scaled(rec and rec.get("memory_bits"), 1e6)
            text["paper_memory_Mbit"] = row.values["memory"]
        entry["paper_top1"] = pv.number(row.values["top1"])
        entry.update(_acc(rec, "test_top1", "ours_top1"))
        text["paper_top1"] = row.values["top1"]
        if with_top5:
            entry["paper_top5"] = pv.number(row.values["top5"])
            entry.update(_acc(rec, "test_top5", "ours_top5"))
            text["paper_top5"] = row.values["top5"]
        paper_text.update({(i, k): v for k, v in text.items()})
        out.append(entry)
    formats = {"ours_ops_M": "ops", "ours_speedup_x": "speedup", "ours_memory_Mbit": "ops",
               "ours_top1": "pct", "ours_top5": "pct"}
    return pd.DataFrame(out), paper_text, used, formats


def _shen_frame(results: Results, family: str, table: int, title: str, caption: str) -> pd.DataFrame:
    """Shen et al. Table ``table`` for ``family``; ``caption`` is formatted with ``paper`` (the
    paper's dataset) and ``ours`` (our setting)."""
    rows = pv.SHEN_TABLE1 if table == 1 else pv.SHEN_TABLE2
    frame, paper_text, used, formats = _shen_table(results, family, rows, with_memory=table == 1,
                                                   with_top5=table == 2)
    paper = pv.SHEN_TABLE1_DATASET if table == 1 else pv.SHEN_TABLE2_DATASET
    caption = caption.format(paper=paper, ours=ours_setting(used))
    return _finish(frame, f"shen_table{table}", title, caption, paper_text, formats)


def shen_table1(results: Results) -> pd.DataFrame:
    """Shen et al. Table 1: VGG-small, FP / Uniform-1x..4x / VGG-Auto-A / VGG-Auto-B.

    Columns FLOPs (M), Speedup (x), Memory (Mbit), Top-1 (%). Ours from
    ``runs/uniform/vgg_small/{fp,uniform1x..4x}`` and ``runs/retrain/vgg_small/{auto_a,auto_b}``;
    ours_speedup_x = OPs(our fp) / OPs(row).
    """
    return _shen_frame(results, "vgg_small", 1, "Shen et al. Table 1 - VGG-small",
                       "Shen et al. 2019, Table 1: widened binary VGG-small. Paper: {paper}. Ours: "
                       "{ours}. Speedup = OPs of the real-valued 1x model / OPs of the row; memory "
                       "= 32 bits per real weight + 1 per binary weight.")


def shen_table2(results: Results) -> pd.DataFrame:
    """Shen et al. Table 2: ResNet-18, FP / PCNN / ABC{5/3} x2 (cited) / Uniform-1x..4x / Auto-A/B.

    Columns FLOPs (M), Speedup (x), Top-1 (%), Top-5 (%). PCNN and the two ABC-Net rows are
    cited (the paper's ImageNet numbers of those methods).
    """
    return _shen_frame(results, "resnet18", 2, "Shen et al. Table 2 - ResNet-18",
                       "Shen et al. 2019, Table 2: widened binary ResNet-18 and other binarization "
                       "methods. Paper: {paper}; PCNN and ABC-Net rows are cited, not run here. "
                       "Ours: {ours}. Speedup = OPs of the real-valued 1x model / OPs of the row.")


TABLES: dict[str, Callable[[Results], pd.DataFrame]] = {
    "phan_table1": phan_table1,
    "phan_table2": phan_table2,
    "phan_table3": phan_table3,
    "phan_table4": phan_table4,
    "shen_table1": shen_table1,
    "shen_table2": shen_table2,
}


def build_all_tables(results: Results | str | Path = "runs") -> dict[str, pd.DataFrame]:
    """Every table, by name (``TABLES`` order); accepts a ``Results`` or a runs directory."""
    if not isinstance(results, Results):
        results = load_results(results)
    return {name: build(results) for name, build in TABLES.items()}


# --------------------------------------------------------------------------------------------
# Proxy quality and stage summaries


PROXY_COLUMNS = ["family", "genomes", "epochs", "train_images", "test_images", "kendall_tau",
                 "kendall_low", "kendall_high", "spearman_rho", "spearman_low", "spearman_high"]


def proxy_records(runs_dir: str | Path = "runs") -> list[dict]:
    """The proxy stage's records (``runs/proxy/<family>/proxy.json``), by family name."""
    return [json.loads(p.read_text()) for p in sorted(Path(runs_dir).glob("proxy/*/proxy.json"))]


def proxy_quality(records: list[dict]) -> pd.DataFrame:
    """Rank correlation of one-shot supernet scores and stand-alone test accuracy, one row per
    family: Kendall tau-b and Spearman rho with 95% percentile-bootstrap intervals over the
    genomes (``bnnlib.stats``), and the short schedule the stand-alone models had."""
    from .stats import kendall_ci, spearman_ci

    rows = []
    for rec in records:
        scores = [g["one_shot"] for g in rec["genomes"]]
        accs = [g["test_top1"] for g in rec["genomes"]]
        tau, rho = kendall_ci(scores, accs), spearman_ci(scores, accs)
        rows.append({"family": rec["family"], "genomes": len(scores), "epochs": rec.get("epochs"),
                     "train_images": rec.get("train_images"), "test_images": rec.get("test_images"),
                     "kendall_tau": tau.estimate, "kendall_low": tau.ci[0], "kendall_high": tau.ci[1],
                     "spearman_rho": rho.estimate, "spearman_low": rho.ci[0],
                     "spearman_high": rho.ci[1]})
    return pd.DataFrame(rows, columns=PROXY_COLUMNS)


def kendall_table(runs_dir: str | Path = "runs") -> pd.DataFrame:
    """:func:`proxy_quality` of every family under ``runs_dir``."""
    return proxy_quality(proxy_records(runs_dir))


def search_seed_frame(results: Results) -> pd.DataFrame:
    """Search-run variance apart from training variance (Li & Talwalkar 2019): per family,
    evolutionary method and search seed, the best genome's one-shot accuracy, OPs and fitness,
    and the test top-1 of that genome retrained (mean, sd, n over training seeds; variant
    ``searched`` / ``auto_<x>`` for the first search seed, ``..._s<k>`` for seed k)."""
    rows = []
    searches = results.searches
    evolutions = searches[searches["method"].astype(str).str.startswith("evolution")] \
        if not searches.empty else searches
    for rec in evolutions.to_dict("records"):
        family, method, seed = rec["family"], rec["method"], rec.get("seed")
        base = "searched" if method == "evolution" else f"auto_{method[-1]}"
        first = results.search(family, method)
        variant = base if first is None or first.get("seed") == seed else f"{base}_s{int(seed)}"
        model = results.model(family, variant) or {}
        rows.append({"family": family, "method": method, "search_seed": seed, "variant": variant,
                     "best_acc": _pct(rec.get("best_acc")), "best_ops": rec.get("best_ops"),
                     "best_fitness": rec.get("best_fitness"), **_acc(model or None, "test_top1",
                                                                      "test_top1")})
    return pd.DataFrame(rows, columns=["family", "method", "search_seed", "variant", "best_acc",
                                       "best_ops", "best_fitness", "test_top1", "test_top1_sd",
                                       "test_top1_n"])


COST_COLUMNS = ["study", "family", "device", "seeds", "search_seeds", "models", "training_h",
                "supernet_h", "search_h", "proxy_h", "total_h", "median_sd_pt", "decidable_pt"]


def _precision(models: pd.DataFrame) -> dict:
    """Median over variants of the seeds' sd of test top-1 (points) and the smallest
    difference a 95% Welch interval decides at that sd with this many seeds per side."""
    from .stats import decidable_difference

    groups = models.dropna(subset=["test_top1"]).groupby("variant")["test_top1"]
    sds = [100 * float(v.std(ddof=1)) for _, v in groups if len(v) >= 2]
    if not sds:
        return {"median_sd_pt": math.nan, "decidable_pt": math.nan}
    sd, n = float(pd.Series(sds).median()), int(groups.size().min())
    return {"median_sd_pt": sd, "decidable_pt": decidable_difference(sd, n) if n >= 2 else math.nan}


def cost_table(results: Results, proxies: list[dict]) -> pd.DataFrame:
    """End-to-end cost per family (Lindauer & Hutter's checklist): training seeds, models
    trained, and hours of training (every uniform and retrained model, each seed), supernet
    training, searching (every search and search seed) and proxy models. Training hours sum
    the epochs' training time (evaluation excluded); search hours are the candidates' scoring
    time summed over each search's log (a resumed search counts its earlier calls). Precision:
    the median over variants of the seeds' standard deviation of test top-1, and the smallest
    difference a 95% interval decides at that spread with the family's seeds per side. The
    caption names the device and the library versions."""
    proxy_s = {p["family"]: sum(g.get("train_seconds") or 0.0 for g in p["genomes"]) for p in proxies}
    rows, used = [], []
    for family in dict.fromkeys(list(results.models.get("family", [])) + list(proxy_s)):
        models = results.models[results.models["family"] == family]
        searches = results.searches[results.searches["family"] == family] \
            if not results.searches.empty else results.searches
        net = results.supernet(family) or {}
        hours = {"training_h": models["train_seconds"].fillna(0).sum() / 3600,
                 "supernet_h": (net.get("train_seconds") or 0.0) / 3600,
                 "search_h": (searches["search_seconds"].fillna(0).sum() / 3600
                              if len(searches) else 0.0),
                 "proxy_h": proxy_s.get(family, 0.0) / 3600}
        first = models.iloc[0].to_dict() if len(models) else {}
        used.append(first)
        rows.append({"study": first.get("study"), "family": family, "device": first.get("device"),
                     "seeds": ", ".join(str(int(s)) for s in sorted(models["seed"].dropna().unique())),
                     "search_seeds": ", ".join(str(int(s)) for s in sorted(
                         searches["seed"].dropna().unique())) if len(searches) else "",
                     "models": len(models), **hours, "total_h": sum(hours.values()),
                     **_precision(models)})
    versions = next((r.get("versions") for r in used if isinstance(r.get("versions"), dict)), {})
    frame = pd.DataFrame(rows, columns=COST_COLUMNS)
    frame.attrs["caption"] = ("End-to-end cost per family: " + (", ".join(
        f"{k} {v}" for k, v in versions.items()) or "library versions not recorded") + ".")
    return frame


def per_seed_frame(results: Results) -> pd.DataFrame:
    """Every trained model's per-seed numbers (``reports/tables/per_seed.csv``)."""
    cols = ["stage", "study", "family", "variant", "seed", "test_top1", "test_top5", "ops",
            "memory_bits", "epochs", "train_seconds", "genome"]
    frame = results.models.reindex(columns=cols)
    return frame.sort_values(["study", "family", "variant", "seed"], na_position="last",
                             kind="stable").reset_index(drop=True)


def results_frame(results: list[dict]) -> pd.DataFrame:
    """A compact table of a stage's result records, accuracies in percent (for notebooks)."""
    keys = ("family", "variant", "method", "seed", "test_top1", "test_top5", "best_acc", "ops",
            "best_ops", "memory_bits", "evaluations", "train_seconds", "search_seconds")
    frame = pd.DataFrame([{k: r.get(k) for k in keys if r.get(k) is not None} for r in results])
    for col in ("test_top1", "test_top5", "best_acc"):
        if col in frame:
            frame[col] = (100 * frame[col]).round(2)
    return frame

"""The papers' figures from our result files: static PNGs, no pyplot state.

- ``plot_phan_fig5``: Phan et al. Figure 5, validation top-1 and top-5 per epoch of the
  random-groups and searched-groups models, one row per module (M1, M2, M3 top to bottom, as in
  the paper).
- ``plot_shen_fig2``: Shen et al. Figure 2, output channels of every conv layer, searched vs
  uniform (ResNet-18: Res18-Auto-A vs Uniform-3x as in the paper; VGG-small: Auto-A, Auto-B vs
  Uniform-1x and Uniform-4x).
- ``plot_acc_vs_ops``: test top-1 against OPs of every model we trained, per study, with the
  Pareto front (fewest OPs for the accuracy) drawn; log OPs axis.

Figures are built with ``matplotlib.figure.Figure`` and the Agg canvas, so importing this module
never changes a notebook's backend; each function returns the figure (notebooks display it) and
writes the PNG when given a path. A figure whose results are missing still renders, with a
"not run" note, so the report always has every figure.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from . import paper_values as pv
from .registry import EXPANSION_MODELS, FIG5_PREFIX, GROUP_MODELS
from .tables import Results, is_missing, load_results, ours_setting, proxy_records

#: seaborn's "colorblind" palette (Okabe-Ito order), written out: plotting needs no seaborn
PALETTE = ["#0173b2", "#de8f05", "#029e73", "#d55e00", "#cc78bc", "#ca9161", "#fbafe4", "#949494"]
KIND_COLOURS = {"uniform": PALETTE[0], "random": PALETTE[1], "searched": PALETTE[2],
                "fp": PALETTE[7]}
KIND_LABELS = {"uniform": "uniform", "random": "random", "searched": "searched (Ours / Auto)",
               "fp": "real-valued"}
MODULE_MARKERS = {"mobilenet_m1": "o", "mobilenet_m2": "s", "mobilenet_m3": "^",
                  "vgg_small": "o", "resnet18": "o"}
DPI = 120


def _figure(width: float, height: float, rows: int = 1, cols: int = 1, **kw):
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False, **kw)
    return fig, axes


def _save(fig: Figure, path: str | Path | None) -> Figure:
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=DPI)
    return fig


METRIC_NAMES = {"top1": "top-1", "top5": "top-5"}


def _not_run(ax, text: str = "not run") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")


# --------------------------------------------------------------------------------------------
# Phan et al. Figure 5


def _seed_curves(records: list[dict], metric: str) -> tuple[list[int], np.ndarray]:
    """Epochs and a ``seeds x epochs`` array of ``metric`` in percent (NaN where missing)."""
    epochs = sorted({h["epoch"] for r in records for h in (r.get("history") or [])
                     if isinstance(h, dict) and "epoch" in h})
    rows = []
    for r in records:
        by_epoch = {h["epoch"]: h.get(metric) for h in (r.get("history") or [])
                    if isinstance(h, dict) and "epoch" in h}
        rows.append([100 * by_epoch[e] if by_epoch.get(e) is not None else np.nan for e in epochs])
    return epochs, np.array(rows, dtype=float).reshape(len(records), len(epochs))


def plot_phan_fig5(results: Results, path: str | Path | None = None) -> Figure:
    """Validation top-1 (left) and top-5 (right) per epoch, random vs searched groups, one row
    per module, as Phan et al. report both: the mean over training seeds (line) and the range of
    the seeds (band), from the ``history`` of ``runs/retrain/<module>/{random,searched}/seed<k>``,
    or of Figure 5's own runs (``fig5_random``, ``fig5_searched``: Phan et al.'s 100 epochs)
    where the profile trains them. Random: one random genome within the MaxFLOPs budget per
    seed. The per-epoch accuracy is on 1000 test images, a split no search saw
    (``bnnlib.stages.common.MONITOR_IMAGES``); the claims use the whole test split."""
    fig, axes = _figure(10.0, 7.5, rows=3, cols=2, sharex=True)
    styles = {"random": ("Random (within budget)", KIND_COLOURS["random"]),
              "searched": ("Group search", KIND_COLOURS["searched"])}
    used = []
    for row, module in zip(axes, pv.PHAN_MODULES, strict=True):
        own = all(results.records(module, FIG5_PREFIX + v) for v in styles)
        records = {v: results.records(module, FIG5_PREFIX + v if own else v) for v in styles}
        used += [r for recs in records.values() for r in recs]
        for ax, metric in zip(row, ("top1", "top5"), strict=True):
            for variant, (label, colour) in styles.items():
                epochs, values = _seed_curves(records[variant], f"val_{metric}")
                if not epochs or np.isnan(values).all():
                    continue
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # an epoch no seed recorded
                    mean, low, high = (np.nanmean(values, 0), np.nanmin(values, 0),
                                       np.nanmax(values, 0))
                ax.plot(epochs, mean, "-", color=colour, marker=".",
                        label=f"{label}, mean of {len(records[variant])} seed(s)")
                ax.fill_between(epochs, low, high, color=colour, alpha=0.2, lw=0)
            ax.set_title(f"Module {pv.PHAN_MODULE_LABELS[module]}, {METRIC_NAMES[metric]}"
                         + (" (Figure 5's own runs)" if own else ""))
            ax.set_ylabel(f"{METRIC_NAMES[metric]} on 1000 test images (%)")
            ax.grid(alpha=0.3)
            if ax.lines:
                ax.legend(fontsize=8, loc="lower right")
            else:
                _not_run(ax)
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle("Phan et al. Fig. 5: random vs searched groups (band: range over seeds)\n"
                 f"ours: {ours_setting(used)}", fontsize=9)
    return _save(fig, path)


# --------------------------------------------------------------------------------------------
# Shen et al. Figure 2


def layer_widths(family: str, model_kwargs: dict) -> list[tuple[str, int]]:
    """(conv name, output channels) of every conv of ``family`` built with ``model_kwargs``, in
    forward order, built on the meta device (no memory, no compute).

    ResNet-18's 1x1 downsample convs are left out: their width is their stage's output width,
    already shown by the block's second conv, and the paper's Figure 2 counts the 17 convs of
    the main path.
    """
    import torch

    from . import models

    with torch.device("meta"):
        model = models.build(family, **model_kwargs)
    return [(name, module.out_channels) for name, module in model.named_modules()
            if isinstance(module, torch.nn.Conv2d) and "shortcut" not in name
            and "downsample" not in name]


def _uniform_ratio(variant: str) -> float | None:
    if variant.startswith("uniform") and variant.endswith("x"):
        return float(variant[len("uniform"):-1])
    return None


def _kwargs_for(results: Results, family: str, variant: str) -> dict | None:
    """Model keywords of ``family``/``variant``: its result's ``model_kwargs`` (the genome as
    ``expansion`` when the keywords lack it); for a uniform model not run, or an Auto model
    whose retrain is missing, any result of the family with the expansion replaced (uniform
    ratio, or the best genome of ``runs/search/<family>/evolution_{a,b}``)."""
    rec = results.model(family, variant)
    if rec and isinstance(rec.get("model_kwargs"), dict):
        kwargs = dict(rec["model_kwargs"])
        if "expansion" not in kwargs and rec.get("genome") is not None:
            kwargs["expansion"] = rec["genome"]
        return kwargs
    expansion = _uniform_ratio(variant)
    if expansion is None and variant in ("auto_a", "auto_b"):
        search = results.search(family, "evolution_" + variant[-1])
        expansion = search.get("best") if search else None
    if expansion is None or results.models.empty:
        return None
    family_models = results.models[results.models["family"] == family]
    for kwargs in family_models["model_kwargs"]:
        if isinstance(kwargs, dict):
            return {**kwargs, "expansion": expansion, "binary": True}
    return None


SHEN_FIG2_MODELS = {
    "resnet18": (("uniform3x", "Uniform-3x"), ("auto_a", "Res18-Auto-A")),
    "vgg_small": (("uniform1x", "Uniform-1x"), ("auto_a", "VGG-Auto-A"),
                  ("auto_b", "VGG-Auto-B"), ("uniform4x", "Uniform-4x")),
}


def plot_shen_fig2(results: Results, family: str = "resnet18",
                   path: str | Path | None = None) -> Figure:
    """Output channels of every conv layer (grouped bars), searched vs uniform models of
    ``family`` (see ``SHEN_FIG2_MODELS``); widths from each model's genome, built on the meta
    device (``layer_widths``), so the figure needs no checkpoint."""
    entries = []
    for variant, label in SHEN_FIG2_MODELS[family]:
        kwargs = _kwargs_for(results, family, variant)
        if kwargs is None:
            continue
        if results.model(family, variant) is None:  # drawn from the genome alone
            label += " (not trained)" if _uniform_ratio(variant) else " (search genome, not retrained)"
        try:
            entries.append((label, layer_widths(family, kwargs)))
        except (TypeError, ValueError) as err:
            entries.append((f"{label} (unbuildable: {err})", []))
    n_layers = max((len(w) for _, w in entries), default=0)
    fig, axes = _figure(max(6.0, 0.45 * n_layers + 2), 4.0)
    ax = axes[0, 0]
    drawn = [(label, widths) for label, widths in entries if widths]
    width = 0.8 / max(len(drawn), 1)
    for k, (label, widths) in enumerate(drawn):
        xs = [i + (k - (len(drawn) - 1) / 2) * width for i in range(len(widths))]
        ax.bar(xs, [w for _, w in widths], width=width, label=label, color=PALETTE[k % 8])
    if drawn:
        names = [name for name, _ in drawn[0][1]]
        if family == "vgg_small":  # Sequential indices mean nothing to a reader: conv1..conv6
            names = [f"conv{i + 1}" for i in range(len(names))]
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels([n.replace("blocks.", "b") for n in names],
                           rotation=60, ha="right", fontsize=7)
        ax.legend(fontsize=8)
    else:
        _not_run(ax)
    ax.set_ylabel("output channels")
    ax.set_xlabel("conv layer (forward order)")
    ax.grid(axis="y", alpha=0.3)
    missing = [label for variant, label in SHEN_FIG2_MODELS[family]
               if not any(lab.startswith(label) for lab, _ in entries)]
    used = [results.model(family, v) for v, _ in SHEN_FIG2_MODELS[family]]
    title = f"Shen et al. Fig. 2 ({family}): channels per layer\nours: {ours_setting(used)}"
    if missing:
        title += f"; not run: {', '.join(missing)}"
    ax.set_title(title, fontsize=9)
    return _save(fig, path)


# --------------------------------------------------------------------------------------------
# Accuracy vs OPs


def pareto_front(ops, acc) -> list[int]:
    """Indices of the points no other point beats (fewer or equal OPs and higher accuracy, or
    fewer OPs and equal accuracy), sorted by OPs: the accuracy-vs-cost front."""
    order = sorted(range(len(ops)), key=lambda i: (ops[i], -acc[i]))
    front, best = [], -math.inf
    for i in order:
        if acc[i] > best:
            front.append(i)
            best = acc[i]
    return front


#: panels of the accuracy-vs-OPs figure: Phan et al.'s modules together, Shen et al.'s models apart
STUDY_PANELS = {"groups": (GROUP_MODELS,), "widths": tuple((f,) for f in EXPANSION_MODELS)}


def _kind(variant: str) -> str:
    if variant == "fp":
        return "fp"
    if variant.startswith(("groups", "uniform")):
        return "uniform"
    if variant.startswith("random"):
        return "random"
    return "searched"


def _short(family: str, variant: str) -> str:
    prefix = pv.PHAN_MODULE_LABELS.get(family, "")
    text = variant.replace("groups", "g").replace("uniform", "").replace("searched", "search")
    return f"{prefix} {text}".strip()


def plot_acc_vs_ops(results: Results, study: str, path: str | Path | None = None) -> Figure:
    """Test top-1 vs OPs of every trained model of ``study`` ("groups" or "widths"), coloured by
    kind (uniform / random / searched (incl. Auto) / real-valued), with the Pareto front of each
    panel as a step line: the mean over training seeds, with the seeds' standard deviation as
    an error bar. Copies marked ``same_as`` are drawn once; Figure 5's own shorter runs
    (``fig5_*``) are not drawn (their schedule is not the final models')."""
    panels = STUDY_PANELS[study]
    fig, axes = _figure(6.0 * len(panels), 4.5, cols=len(panels))
    models = results.models
    for ax, families in zip(axes[0], panels, strict=True):
        pts = []
        if not models.empty:
            shown = models[models["family"].isin(families)]
            for fam, variant in dict.fromkeys(zip(shown["family"], shown["variant"], strict=True)):
                rec = results.model(fam, variant)
                ops, top1 = rec.get("ops"), rec.get("test_top1")
                if isinstance(rec.get("same_as"), str) or is_missing(ops) or is_missing(top1) \
                        or ops <= 0 or variant.startswith(FIG5_PREFIX):
                    continue
                sd = rec.get("test_top1_sd")
                pts.append((float(ops), 100 * float(top1), fam, variant,
                            0.0 if is_missing(sd) else 100 * float(sd)))
        for kind, colour in KIND_COLOURS.items():
            for fam in families:
                sel = [p for p in pts if _kind(p[3]) == kind and p[2] == fam]
                if sel:
                    label = KIND_LABELS[kind]
                    if len(families) > 1:
                        label += f" {pv.PHAN_MODULE_LABELS[fam]}"
                    ax.errorbar([p[0] for p in sel], [p[1] for p in sel], yerr=[p[4] for p in sel],
                                color=colour, marker=MODULE_MARKERS[fam], ls="none", capsize=2,
                                label=label, zorder=3)
        for p in pts:
            ax.annotate(_short(p[2], p[3]), (p[0], p[1]), fontsize=6, xytext=(3, 3),
                        textcoords="offset points")
        if pts:
            front = pareto_front([p[0] for p in pts], [p[1] for p in pts])
            ax.step([pts[i][0] for i in front], [pts[i][1] for i in front], where="post",
                    color="0.3", lw=1, ls="--", label="Pareto front", zorder=2)
            ax.set_xscale("log")
            ax.legend(fontsize=7)
        else:
            _not_run(ax)
        ax.set_xlabel("OPs (real MACs + binary MACs / 64, log scale)")
        ax.set_ylabel("test top-1 (%)")
        ax.grid(alpha=0.3, which="both")
        recs = [results.model(f, v) for f in families
                for v in (models[models["family"] == f]["variant"] if not models.empty else [])]
        ax.set_title(f"{' / '.join(families)}\nours: {ours_setting(recs)}", fontsize=9)
    return _save(fig, path)


# --------------------------------------------------------------------------------------------


def write_all_figures(runs_dir: str | Path = "runs", out_dir: str | Path = "reports/figures"
                      ) -> list[Path]:
    """Write every figure as PNG into ``out_dir``: ``phan_fig5.png``,
    ``shen_fig2_resnet18.png``, ``shen_fig2_vgg_small.png``, ``acc_vs_ops_groups.png``,
    ``acc_vs_ops_widths.png``; returns the paths."""
    results = load_results(runs_dir)
    out = Path(out_dir)
    jobs = {
        "phan_fig5.png": lambda p: plot_phan_fig5(results, p),
        "shen_fig2_resnet18.png": lambda p: plot_shen_fig2(results, "resnet18", p),
        "shen_fig2_vgg_small.png": lambda p: plot_shen_fig2(results, "vgg_small", p),
        "acc_vs_ops_groups.png": lambda p: plot_acc_vs_ops(results, "groups", p),
        "acc_vs_ops_widths.png": lambda p: plot_acc_vs_ops(results, "widths", p),
        "proxy_quality.png": lambda p: plot_proxy(proxy_records(runs_dir), p),
    }
    paths = []
    for name, job in jobs.items():
        job(out / name)
        paths.append(out / name)
    return paths


# --------------------------------------------------------------------------------------------
# Stage notebooks


def plot_histories(results: list[dict], key: str = "val_top1") -> Figure:
    """Per-epoch curves of ``key`` (default: validation top-1) of a stage's trained results."""
    fig, axes = _figure(6, 3.5)
    ax = axes[0, 0]
    for r in results:
        history = [h for h in r.get("history") or [] if isinstance(h, dict) and key in h]
        if history:
            label = r.get("variant", r.get("family"))
            if r.get("seed") is not None:
                label = f"{label} s{r['seed']}"
            ax.plot([h["epoch"] for h in history], [100 * h[key] for h in history], marker="o",
                    label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{key} (%)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=8)
    return fig


def plot_search_progress(results: list[dict], search_dir: str | Path) -> Figure:
    """Best fitness so far against the number of evaluations, one line per search method;
    ``search_dir`` is ``<runs_dir>/search/<family>`` (each method's ``log.jsonl`` is there)."""
    import pandas as pd

    fig, axes = _figure(6, 3.5)
    ax = axes[0, 0]
    for r in results:
        log = pd.read_json(Path(search_dir) / r["method"] / f"seed{r['seed']}" / r["history"],
                           lines=True)
        ax.plot(log["fitness"].cummax().to_numpy(), label=f"{r['method']} seed {r['seed']}")
    ax.set_xlabel("evaluation")
    ax.set_ylabel("best fitness so far")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def plot_proxy(records: list[dict], path: str | Path | None = None) -> Figure:
    """One-shot score against stand-alone test top-1 of the proxy genomes, one panel per family
    (``runs/proxy/<family>/proxy.json``), Kendall tau and Spearman rho with their intervals in
    the title; colour: OPs (log)."""
    from .stats import kendall_ci, spearman_ci

    n = max(len(records), 1)
    fig, axes = _figure(4.0 * n, 3.8, cols=n)
    for ax, rec in zip(axes[0], records, strict=False):
        rows = rec["genomes"]
        x = [100 * g["one_shot"] for g in rows]
        y = [100 * g["test_top1"] for g in rows]
        points = ax.scatter(x, y, c=np.log10([g["ops"] for g in rows]), cmap="viridis", zorder=3)
        fig.colorbar(points, ax=ax, label="log10 OPs")
        tau = kendall_ci([g["one_shot"] for g in rows], [g["test_top1"] for g in rows])
        rho = spearman_ci([g["one_shot"] for g in rows], [g["test_top1"] for g in rows])
        ax.set_title(f"{rec['family']}: tau {tau.text}\nrho {rho.text}", fontsize=8)
        ax.set_xlabel("one-shot score: search-validation top-1 (%)")
        ax.set_ylabel(f"stand-alone test top-1 (%), {rec.get('epochs')} epoch(s)")
        ax.grid(alpha=0.3)
    if not records:
        _not_run(axes[0, 0], "no proxy results yet (stage 06)")
    return _save(fig, path)

"""Tables, figures, claims and the report index, on synthetic result files (docs/results_schema.md)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from urllib.parse import unquote

import nbformat
import pandas as pd
import pytest
from bs4 import BeautifulSoup

from bnnlib import claims as C
from bnnlib import notebook as runner
from bnnlib import paper_values as pv
from bnnlib import plots, report, table_text
from bnnlib import tables as T

NOTEBOOK_05 = Path(__file__).resolve().parents[1] / "notebooks" / "05_tables.ipynb"

# --------------------------------------------------------------------------------------------
# Synthetic runs/ directory

SETTING = {"dataset": "fashion_mnist", "profile": "smoke", "input_size": [1, 28, 28]}
GROUPS_KW = {"width_mult": 0.25, "small_input": True, "num_classes": 10, "in_channels": 1}
VGG_KW = {"width_mult": 0.125, "num_classes": 10, "in_channels": 1}
R18_KW = {"width_mult": 0.25, "small_input": True, "num_classes": 10, "in_channels": 1}

# (family, variant) -> (stage, test_top1, ops, genome); groups ops ~ 1e7, widths ops ~ 1e6.
GROUPS_MODELS = {
    ("mobilenet_m1", "groups1"): ("uniform", 0.900, 2.0e7, [1] * 13),
    ("mobilenet_m1", "groups4"): ("uniform", 0.880, 1.6e7, [4] * 13),
    ("mobilenet_m1", "groups16"): ("uniform", 0.860, 1.5e7, [16] * 13),
    ("mobilenet_m1", "random"): ("retrain", 0.870, 1.58e7, [2, 4, 1, 8, 4, 2, 4, 8, 16, 4, 2, 4, 8]),
    ("mobilenet_m1", "searched"): ("retrain", 0.885, 1.54e7, [1, 1, 2, 2, 4, 4, 8, 8, 4, 4, 8, 8, 16]),
    # M2: searched loses to random (a constructed "not supported" case)
    ("mobilenet_m2", "groups4"): ("uniform", 0.850, 0.7e7, [4] * 18),
    ("mobilenet_m2", "groups16"): ("uniform", 0.800, 0.3e7, [16] * 18),
    ("mobilenet_m2", "random"): ("retrain", 0.840, 0.75e7, [4] * 18),
    ("mobilenet_m2", "searched"): ("retrain", 0.830, 0.62e7, [2] * 18),
    ("mobilenet_m3", "groups1"): ("uniform", 0.880, 0.87e7, [1] * 13),
    ("mobilenet_m3", "groups4"): ("uniform", 0.840, 0.37e7, [4] * 13),
    ("mobilenet_m3", "groups16"): ("uniform", 0.810, 0.24e7, [16] * 13),
    ("mobilenet_m3", "random"): ("retrain", 0.830, 0.38e7, [4] * 13),
    ("mobilenet_m3", "searched"): ("retrain", 0.845, 0.33e7, [2] * 13),
}
WIDTHS_MODELS = {
    ("vgg_small", "fp"): ("uniform", 0.930, 60.8e6, None),
    ("vgg_small", "uniform1x"): ("uniform", 0.900, 1.32e6, [1.0] * 6),
    ("vgg_small", "uniform2x"): ("uniform", 0.910, 4.53e6, [2.0] * 6),
    ("vgg_small", "uniform3x"): ("uniform", 0.915, 9.62e6, [3.0] * 6),
    ("vgg_small", "uniform4x"): ("uniform", 0.925, 16.6e6, [4.0] * 6),
    ("vgg_small", "auto_a"): ("retrain", 0.905, 1.13e6, [1.0, 0.5, 1.0, 0.5, 2.0, 0.25]),
    ("vgg_small", "auto_b"): ("retrain", 0.922, 5.93e6, [2.0, 1.0, 3.0, 2.0, 2.0, 1.0]),
    ("resnet18", "fp"): ("uniform", 0.920, 182e6, None),
    ("resnet18", "uniform1x"): ("uniform", 0.880, 14.9e6, [1.0] * 12),
    ("resnet18", "uniform2x"): ("uniform", 0.900, 35.2e6, [2.0] * 12),
    ("resnet18", "uniform3x"): ("uniform", 0.905, 60.7e6, [3.0] * 12),
    # Uniform-4x below 3x: "accuracy increases with width" is not supported for ResNet-18
    ("resnet18", "uniform4x"): ("uniform", 0.902, 91.5e6, [4.0] * 12),
    ("resnet18", "auto_a"): ("retrain", 0.904, 49.5e6, [2, 3, 3, 2, 4, 3, 2, 4, 4, 1, 3, 2]),
    ("resnet18", "auto_b"): ("retrain", 0.912, 66.0e6, [3, 4, 4, 3, 4, 4, 3, 4, 4, 2, 4, 3]),
}


def history(top1: float, epochs: int = 3, offset: float = 0.0) -> list[dict]:
    return [{"epoch": e, "train_loss": 1.0 / e, "train_top1": top1 - 0.05 + 0.01 * e,
             "val_top1": top1 - 0.03 * (epochs - e) + offset, "val_top5": 0.99, "lr": 1e-3,
             "seconds": 10.0} for e in range(1, epochs + 1)]


def model_record(family: str, variant: str, top1: float, ops: float, genome) -> dict:
    study = "groups" if family.startswith("mobilenet") else "widths"
    if study == "groups":
        kwargs = {**GROUPS_KW, "groups": genome[:13]}
        if family == "mobilenet_m2":
            kwargs["real_groups"] = genome[13:]
    else:
        kwargs = dict(VGG_KW if family == "vgg_small" else R18_KW)
        kwargs["expansion"] = genome if genome is not None else 1.0
    binary = variant != "fp"
    return {"study": study, "family": family, "variant": variant, "genome": genome,
            "model_kwargs": kwargs, "binary": binary, "ops": ops, "fp_macs": ops / 2,
            "binary_macs": ops * 32, "memory_bits": ops * 3.0, "test_top1": top1,
            "test_top5": min(top1 + 0.09, 1.0), "test_loss": 0.4, "monitor_top1": top1 + 0.002,
            "epochs": 3, "train_seconds": 30.0,
            "history": history(top1, offset=0.01 if variant == "searched" else 0.0),
            **SETTING}


def write_json(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))


def make_runs(root: Path, skip: tuple = ()) -> Path:
    """A runs/ tree with every model, supernet and search result, minus ``skip`` entries
    ((family, variant) for models, (family, method) for searches)."""
    for (family, variant), (stage, top1, ops, genome) in {**GROUPS_MODELS, **WIDTHS_MODELS}.items():
        if (family, variant) not in skip:  # two training seeds around ``top1``: sd 1.41 points
            for seed, delta in ((0, -0.01), (1, 0.01)):
                write_json(root / stage / family / variant / f"seed{seed}" / "result.json",
                           model_record(family, variant, top1 + delta, ops, genome))
    budgets = {"mobilenet_m1": 1.55e7, "mobilenet_m2": 0.8e7, "mobilenet_m3": 0.3e7}
    for family, budget in budgets.items():
        write_json(root / "supernet" / family / "result.json",
                   {"study": "groups", "family": family, "kind": "groups", "epochs": 2,
                    "train_seconds": 100.0, "val_top1_largest": 0.85, **SETTING})
        for method in ("evolution", "random"):
            if (family, method) in skip:
                continue
            write_json(root / "search" / family / method / "seed0" / "result.json", {
                "study": "groups", "family": family, "method": method, "best": [1] * 13,
                "best_fitness": 0.8, "best_acc": 0.8, "best_ops": budget * 0.9, "max_ops": budget,
                "lam": None, "ops_ref": None, "evaluations": 100, "search_seconds": 1800.0,
                "device": "cpu (2 cores)",
                "history": f"runs/search/{family}/{method}/log.jsonl", **SETTING})
    for family in ("vgg_small", "resnet18"):
        for method in ("evolution_a", "evolution_b", "random_a", "random_b"):
            write_json(root / "search" / family / method / "seed0" / "result.json", {
                "study": "widths", "family": family, "method": method,
                "best": WIDTHS_MODELS[family, "auto_" + method[-1]][3], "best_fitness": 0.7,
                "best_acc": 0.9, "best_ops": 1e6, "max_ops": None, "lam": 4.0, "ops_ref": 1.3e6,
                "evaluations": 64, "search_seconds": 900.0, "device": "cpu (2 cores)",
                "history": None, **SETTING})
    return root


@pytest.fixture(scope="module")
def full(tmp_path_factory) -> T.Results:
    return T.load_results(make_runs(tmp_path_factory.mktemp("full") / "runs"))


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    """Notebook 05 run on the full synthetic runs as ``dvc repro tables`` runs it (papermill into
    ``reports/executed``, HTML into ``reports/notebooks``), after a stage-01 notebook's outputs;
    returns (runs, reports). Shared: the kernel start and the plotting are the slow part."""
    root = tmp_path_factory.mktemp("built")
    runs, reports = make_runs(root / "runs"), root / "reports"
    write_json(runs / "proxy" / "vgg_small" / "proxy.json",  # stage 06's record
               {"family": "vgg_small", "epochs": 1, "train_images": 2000, "test_images": 2000,
                "genomes": [{"genome": [float(k)] * 6, "ops": 1e6 * k, "one_shot": 0.80 + 0.01 * k,
                             "test_top1": 0.85 + 0.02 * k} for k in (1, 2, 3, 4)]})
    for sub, suffix in (("executed", ".ipynb"), ("notebooks", ".html")):
        (reports / sub).mkdir(parents=True)
        (reports / sub / f"01_uniform_baselines_vgg_small{suffix}").write_text("{}")
    runner.run(str(NOTEBOOK_05), str(reports / "executed" / "05_tables.ipynb"),
               {"runs_dir": str(runs), "reports_dir": str(reports)},
               html_dir=str(reports / "notebooks"))
    return runs, reports


# --------------------------------------------------------------------------------------------
# Paper values

def test_paper_values_internally_consistent():
    # Shen et al.: Speedup = FLOPs(FP) / FLOPs(row), as printed (to the printed rounding).
    for rows in (pv.SHEN_TABLE1, pv.SHEN_TABLE2):
        fp = pv.paper_value(rows, "fp", "flops")
        for row in rows[1:]:
            ratio = fp / pv.number(row.values["flops"])
            assert abs(ratio - pv.number(row.values["speedup"])) <= 0.25, row.label
    # Phan et al.: Table 2 is Table 1's "Ours" rounded; Tables 3 and 4 repeat Table 1's "Ours".
    for m in pv.PHAN_MODULES:
        for col in ("top1", "top5"):
            t1 = pv.paper_value(pv.PHAN_TABLE1[m], "searched", col)
            assert round(t1, 1) == pytest.approx(pv.paper_value(pv.PHAN_TABLE2, col, m))
            assert t1 == pv.paper_value(pv.PHAN_TABLE3, m, col)
        flops = pv.paper_value(pv.PHAN_TABLE1[m], "searched", "flops")
        assert flops == pv.paper_value(pv.PHAN_TABLE2, "flops", m)
        assert flops == pv.paper_value(pv.PHAN_TABLE4, m, "flops")
    assert math.isnan(pv.number("> 1.54")) and math.isnan(pv.number("-"))


# --------------------------------------------------------------------------------------------
# Tables

EXPECTED_LABELS = {
    "phan_table1": [r.label for m in pv.PHAN_MODULES for r in pv.PHAN_TABLE1[m]],
    "phan_table2": [r.label for r in pv.PHAN_TABLE2],
    "phan_table3": [r.label for r in pv.PHAN_TABLE3],
    "phan_table4": [r.label for r in pv.PHAN_TABLE4],
    "shen_table1": [r.label for r in pv.SHEN_TABLE1],
    "shen_table2": [r.label for r in pv.SHEN_TABLE2],
}
EXPECTED_COUNTS = {"phan_table1": 15, "phan_table2": 5, "phan_table3": 15, "phan_table4": 9,
                   "shen_table1": 7, "shen_table2": 10}
CITED_COUNTS = {"phan_table1": 0, "phan_table2": 0, "phan_table3": 12, "phan_table4": 6,
                "shen_table1": 0, "shen_table2": 3}


def _label_col(frame):
    return "metric" if "metric" in frame.columns else "model"


def _ours_cols(frame):
    """Our value columns (not the unit, not the hidden spread over seeds)."""
    return [c for c in frame.columns if c.startswith("ours_") and c != "ours_unit"
            and not table_text.hidden(c)]


def test_empty_runs_every_row_not_run(tmp_path):
    (tmp_path / "runs").mkdir()
    results = T.load_results(tmp_path / "runs")
    for name, frame in T.build_all_tables(results).items():
        assert len(frame) == EXPECTED_COUNTS[name]
        assert list(frame[_label_col(frame)]) == EXPECTED_LABELS[name]
        assert frame[_ours_cols(frame)].isna().all().all(), name
        assert "not run yet" in frame.attrs["caption"]
        md = table_text.to_markdown(frame)
        ours_rows = (frame["source"] == T.THIS_RUN).sum()
        assert md.count(T.NOT_RUN) >= ours_rows
    paths = table_text.write_all_tables(tmp_path / "runs", tmp_path / "tables")
    assert {p.name for p in paths} >= {f"{n}.{e}" for n in T.TABLES for e in ("md", "csv", "tex")}
    # a missing runs directory behaves the same
    assert all(len(f) == EXPECTED_COUNTS[n]
               for n, f in T.build_all_tables(tmp_path / "absent").items())


def test_full_runs_fill_every_run_row(full):
    tables = T.build_all_tables(full)
    for name, frame in tables.items():
        assert list(frame[_label_col(frame)]) == EXPECTED_LABELS[name]
        cited = frame["source"] == T.CITED
        assert cited.sum() == CITED_COUNTS[name]
        ours = frame[_ours_cols(frame)]
        assert ours[~cited].notna().all().all(), name
        assert ours[cited].isna().all().all(), name
        assert "Fashion-MNIST, profile smoke, 1x28x28" in frame.attrs["caption"]


def test_phan_table1_values(full):
    t1 = T.phan_table1(full)
    row = t1[(t1["module"] == "M1") & (t1["key"] == "groups4")].iloc[0]
    assert row["paper_top1"] == 60.89 and row["ours_top1"] == 88.0
    assert row["ours_ops_1e8"] == pytest.approx(0.16)
    assert row["ours_top5"] == 97.0
    # M2 Groups = 1 is not in runs/: taken from M1's identical network, and said so
    m2g1 = t1[(t1["module"] == "M2") & (t1["key"] == "groups1")].iloc[0]
    assert m2g1["ours_top1"] == 90.0 and "mobilenet_m1/groups1" in m2g1["note"]
    md = table_text.to_markdown(t1)
    assert ("| M1 | Groups = 4 | this run | 60.89 | 88.00 ± 1.41 (2) | 82.54 | 97.00 ± 1.41 (2) "
            "| 1.63 | 0.1600 |") in md


def test_phan_table2_search_cost_and_budget(full):
    t2 = T.phan_table2(full).set_index("key")
    assert t2.loc["search_hours", "paper_M1"] == 30
    assert t2.loc["search_hours", "ours_M1"] == pytest.approx(0.5)
    assert "cpu (2 cores)" in t2.loc["search_hours", "ours_unit"]
    assert t2.loc["max_flops", "ours_M2"] == pytest.approx(0.08)
    assert t2.loc["top1", "ours_M3"] == 84.5
    assert "cpu (2 cores)" in T.phan_table2(full).attrs["caption"]


def test_shen_speedup_memory_and_cited(full):
    t1 = T.shen_table1(full).set_index("key")
    assert t1.loc["uniform2x", "ours_speedup_x"] == pytest.approx(60.8 / 4.53)
    assert t1.loc["fp", "ours_speedup_x"] == pytest.approx(1.0)
    assert t1.loc["uniform1x", "ours_ops_M"] == pytest.approx(1.32)
    assert t1.loc["uniform1x", "ours_memory_Mbit"] == pytest.approx(1.32 * 3)
    assert t1.loc["auto_b", "paper_top1"] == 93.06
    t2 = T.shen_table2(full)
    abc = t2[t2["model"] == "ABC{5/3}"]
    assert list(abc["paper_flops_M"]) == [520, 785] and (abc["source"] == T.CITED).all()
    assert t2.set_index("key").loc["auto_a", "ours_speedup_x"] == pytest.approx(182 / 49.5)
    md = table_text.to_markdown(t2)
    assert "| PCNN | cited, not run here | Gu et al. 2019, PCNN | 169 | - | 10.8 | - |" in md
    assert "| Uniform-2x | this run |  | 352 | 35.20 | 5.2 | 5.2 | 64.0 | 90.00 ± 1.41 (2) |" in md


def test_missing_results_leave_row_not_run(tmp_path):
    runs = make_runs(tmp_path / "runs", skip=(("vgg_small", "fp"), ("resnet18", "auto_b"),
                                              ("mobilenet_m3", "evolution")))
    results = T.load_results(runs)
    t1 = T.shen_table1(results).set_index("key")
    assert math.isnan(t1.loc["fp", "ours_top1"])
    assert t1["ours_speedup_x"].isna().all()  # no FP model: no speedup for any row
    assert t1.loc["uniform1x", "ours_top1"] == 90.0
    t2 = T.shen_table2(results)
    assert len(t2) == 10 and math.isnan(t2.set_index("key").loc["auto_b", "ours_top1"])
    row = [ln for ln in table_text.to_markdown(t2).splitlines() if ln.startswith("| Res18-Auto-B")][0]
    assert row.count(T.NOT_RUN) == 4
    p2 = T.phan_table2(results).set_index("key")
    assert math.isnan(p2.loc["search_hours", "ours_M3"]) and p2.loc["top1", "ours_M3"] == 84.5


def test_unreadable_result_file_is_skipped(tmp_path):
    runs = make_runs(tmp_path / "runs")
    (runs / "uniform" / "vgg_small" / "uniform3x" / "seed0" / "result.json").write_text("{not json")
    with pytest.warns(UserWarning, match="skipped result file"):
        results = T.load_results(runs)
    assert len(results.skipped) == 1
    row = T.shen_table1(results).set_index("key").loc["uniform3x"]  # the other seed is kept
    assert row["ours_top1"] == 92.5 and row["ours_top1_n"] == 1 and math.isnan(row["ours_top1_sd"])
    assert "| 92.50 (1) |" in table_text.to_markdown(T.shen_table1(results))


def test_writers_markdown_csv_latex(full, tmp_path):
    frame = T.phan_table3(full)
    paths = table_text.write_table(frame, tmp_path)
    assert [p.name for p in paths] == ["phan_table3.md", "phan_table3.csv", "phan_table3.tex"]
    csv = pd.read_csv(paths[1])
    assert len(csv) == 15 and csv["ours_top1"].isna().sum() == 12
    tex = paths[2].read_text()
    assert r"\toprule" in tex and r"\bottomrule" in tex and r"\midrule" in tex
    assert r"Top-1 \% (paper)" in tex and "1/32" in tex
    body = [ln for ln in tex.splitlines() if ln.endswith(r"\\")]
    assert len(body) == 16  # header + 15 rows
    assert all(ln.count(" & ") == 7 for ln in body)  # 8 columns, no unescaped '&' in cells
    assert table_text.latex_escape("a_b & 5% {x}") == r"a\_b \& 5\% \{x\}"
    md = paths[0].read_text()
    assert "| DoReFa-Net [53] | cited, not run here | Zhou et al. 2016, DoReFa-Net | 1/1 | 43.60 | - | - | - |" in md


# --------------------------------------------------------------------------------------------
# Figures

def test_pareto_front():
    ops = [1.0, 2.0, 3.0, 2.5, 0.5]
    acc = [80.0, 85.0, 84.0, 90.0, 70.0]
    assert plots.pareto_front(ops, acc) == [4, 0, 1, 3]


def test_layer_widths_from_genome():
    genome = [2, 3, 3, 2, 4, 3, 2, 4, 4, 1, 3, 2]
    widths = plots.layer_widths("resnet18", {**R18_KW, "expansion": genome})
    assert len(widths) == 17  # stem + 16 block convs, downsample convs left out
    bases = [64, 64, 64, 128, 128, 128, 256, 256, 256, 512, 512, 512]
    expect = [round(b * 0.25 * r) for b, r in zip(bases, genome, strict=True)]
    assert widths[0] == ("stem.0", expect[0])
    assert widths[1] == ("blocks.0.conv1", expect[1]) and widths[2] == ("blocks.0.conv2", expect[0])
    assert widths[-2:] == [("blocks.7.conv1", expect[11]), ("blocks.7.conv2", expect[9])]
    vgg = plots.layer_widths("vgg_small", {**VGG_KW, "expansion": [1, 0.5, 1, 0.5, 2, 0.25]})
    assert [w for _, w in vgg] == [16, 8, 32, 16, 128, 16]


def test_figures_written(built):
    _, reports = built
    pngs = sorted((reports / "figures").iterdir())
    assert {p.stem for p in pngs} == set(report.FIGURES)
    for p in pngs:
        data = p.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, p


def test_figures_render_without_results(tmp_path):
    results = T.load_results(tmp_path / "absent")
    fig = plots.plot_phan_fig5(results, tmp_path / "f5.png")
    assert any("not run" in t.get_text() for ax in fig.axes for t in ax.texts)
    plots.plot_shen_fig2(results, "resnet18", tmp_path / "f2.png")
    plots.plot_acc_vs_ops(results, "widths", tmp_path / "acc.png")
    assert all((tmp_path / n).stat().st_size > 0 for n in ("f5.png", "f2.png", "acc.png"))


def test_fig5_draws_figure5_runs_where_the_profile_trains_them(tmp_path):
    root = make_runs(tmp_path / "runs")
    for variant, top1 in (("fig5_searched", 0.70), ("fig5_random", 0.60)):
        for seed in (0, 1):
            rec = model_record("mobilenet_m2", variant, top1, 0.7e7, [4] * 18)
            write_json(root / "retrain/mobilenet_m2" / variant / f"seed{seed}/result.json",
                       {**rec, "history": history(top1, epochs=5)})
    fig = plots.plot_phan_fig5(T.load_results(root), tmp_path / "f5.png")
    m1, m1_top5, m2, m2_top5, *_ = fig.axes  # a row per module: top-1, top-5 (Phan et al.)
    assert m2.get_title() == "Module M2, top-1 (Figure 5's own runs)"
    assert m1.get_title() == "Module M1, top-1" and m2_top5.get_title().startswith("Module M2, top-5")
    assert [list(line.get_xdata()) for line in m2.lines] == [[1, 2, 3, 4, 5]] * 2
    assert [round(line.get_ydata()[-1], 6) for line in m2.lines] == [60.0, 70.0]  # random, searched
    assert [list(line.get_ydata()) for line in m2_top5.lines] == [[99.0] * 5] * 2  # val_top5
    assert len(m1.lines[1].get_ydata()) == len(m1_top5.lines[1].get_ydata()) == 3  # the retraining's


def test_fig2_uses_search_genome_when_retrain_missing(tmp_path):
    results = T.load_results(make_runs(tmp_path / "runs", skip=(("resnet18", "auto_a"),
                                                                ("resnet18", "uniform3x"))))
    ax = plots.plot_shen_fig2(results, "resnet18").axes[0]
    bars = {c.get_label(): [p.get_height() for p in c] for c in ax.containers}
    # Auto-A drawn from the best genome of search/resnet18/evolution_a, Uniform-3x from its ratio
    auto = plots.layer_widths("resnet18", {**R18_KW, "expansion": WIDTHS_MODELS["resnet18", "auto_a"][3]})
    uniform = plots.layer_widths("resnet18", {**R18_KW, "expansion": 3.0})
    assert bars == {"Res18-Auto-A (search genome, not retrained)": [w for _, w in auto],
                    "Uniform-3x (not trained)": [w for _, w in uniform]}


# --------------------------------------------------------------------------------------------
# Claims

# --------------------------------------------------------------------------------------------
# Notebook 05 (the study's report) and the index


def _soup(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def _rows(table) -> list[list[str]]:
    return [[cell.get_text() for cell in tr.find_all("td")] for tr in table.find("tbody").find_all("tr")]


def test_notebook_05_shows_every_table_figure_and_claim(built):
    runs, reports = built
    executed = nbformat.read(reports / "executed" / "05_tables.ipynb", as_version=4)
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    shown = "\n".join(o.get("data", {}).get("text/html", "") for o in outputs)
    for name, frame in T.build_all_tables(runs).items():
        assert frame.attrs["title"] in shown, name
    assert report.KENDALL_TITLE in shown
    assert all(claim.id in shown for claim in C.CLAIMS)
    assert sum("image/png" in o.get("data", {}) for o in outputs) == len(report.FIGURES)
    # its rendering (the page the index calls the study's report) shows the same
    page = _soup(reports / "notebooks" / "05_tables.html")
    captions = " ".join(c.get_text() for c in page.find_all("caption"))
    assert all(f.attrs["title"] in captions for f in T.build_all_tables(runs).values())
    assert report.KENDALL_TITLE in captions and report.CLAIMS_TITLE in captions
    assert len([i for i in page.find_all("img") if i["src"].startswith("data:image/png")]) \
        == len(report.FIGURES)


def test_index_links_resolve_and_cover_every_file(built):
    _, reports = built
    index = reports / "index.html"
    page = _soup(index)
    links = [a["href"] for a in page.find_all("a")] + [i["src"] for i in page.find_all("img")]
    assert all(not link.startswith(("/", "http", "file:")) for link in links)
    assert not page.find_all("script")
    targets = {(reports / unquote(link)).resolve() for link in links}
    assert all(t.is_file() for t in targets), [t for t in targets if not t.is_file()]
    files = {p.resolve() for p in reports.rglob("*") if p.is_file() and p != index}
    assert files == targets  # every file under reports/, the notebook 05 page included
    first = page.find("a")
    assert first["href"] == "notebooks/05_tables.html"  # the study's report, linked first


def test_index_shows_every_table_and_claim_as_built(built):
    runs, reports = built
    page = _soup(reports / "index.html")
    for name, frame in T.build_all_tables(runs).items():
        table = page.find("table", id=f"T_{name}")
        assert frame.attrs["title"] in table.find("caption").get_text(), name
        assert _rows(table) == table_text.display_frame(frame).values.tolist(), name
    claims = C.check_claims(runs)
    assert _rows(page.find("table", id="T_claims")) == C.display_claims(claims).values.tolist()
    kendall = page.find("table", id=f"T_{report.KENDALL}")
    assert report.KENDALL_TITLE in kendall.find("caption").get_text()
    assert _rows(kendall) == [["vgg_small", "4", "1 epoch(s), 2000 images; tested on 2000",
                               "1.00 [1.00, 1.00]", "1.00 [1.00, 1.00]"]]
    figures = {img["src"] for img in page.find_all("img")}
    assert figures == {f"figures/{name}.png" for name in report.FIGURES}


def test_cost_and_search_seed_tables(full):
    cost = T.cost_table(full, [{"family": "vgg_small", "genomes": [{"train_seconds": 360.0}] * 5}])
    row = cost.set_index("family").loc["mobilenet_m1"]
    n_models = 2 * sum(1 for fam, _ in GROUPS_MODELS if fam == "mobilenet_m1")
    assert row["models"] == n_models and row["seeds"] == "0, 1" and row["search_seeds"] == "0"
    assert row["training_h"] == pytest.approx(n_models * 30 / 3600)
    assert row["search_h"] == pytest.approx(1.0) and row["supernet_h"] == pytest.approx(100 / 3600)
    vgg = cost.set_index("family").loc["vgg_small"]
    assert vgg["proxy_h"] == pytest.approx(0.5)
    assert vgg["total_h"] == pytest.approx(vgg[["training_h", "supernet_h", "search_h", "proxy_h"]].sum())
    # every variant has seeds top1 -+ 1 point: sd 1.414, decided with 2 vs 2 seeds from 6.08
    assert vgg["median_sd_pt"] == pytest.approx(2 ** 0.5)
    assert vgg["decidable_pt"] == pytest.approx(4.303 * 2 ** 0.5, rel=1e-3)
    seeds = T.search_seed_frame(full).set_index(["family", "method"])
    assert seeds.loc[("mobilenet_m3", "evolution"), "variant"] == "searched"
    assert seeds.loc[("mobilenet_m3", "evolution"), "test_top1"] == 84.5
    assert seeds.loc[("vgg_small", "evolution_b"), "variant"] == "auto_b"
    assert seeds.loc[("vgg_small", "evolution_b"), "test_top1_n"] == 2

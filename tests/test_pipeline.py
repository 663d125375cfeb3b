"""The whole study on the `smoke` profile, end to end through DVC, in a temporary copy.

Runs `dvc repro` (every notebook through papermill), then checks that every table of both
papers has every row with our values filled, that the report index, claims and metrics exist,
that a second `dvc repro` has nothing to do, that a bad params.yaml stops `dvc repro` within
seconds naming the key, that editing a plot function invalidates only `tables`, and that
changing settings redoes exactly the items they determine: a lowered M1 budget gives a genome
within it, and ResNet-18's final models with another recipe are trained from scratch (their
stage alone). A few minutes on 2 cores;
deselect with `-m "not pipeline"`.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bnnlib import tables

pytestmark = pytest.mark.pipeline

ROOT = Path(__file__).resolve().parents[1]
COPY = ["bnnlib", "notebooks", "profiles", "dvc.yaml", "params.yaml", ".dvc", ".dvcignore", "pyproject.toml",
        "bench/results_gpu"]  # the measured rates of the tables stage's cost projections
# rows printed in each paper table (Phan et al. Tables 1-4, Shen et al. Tables 1-2)
PAPER_ROWS = {"phan_table1": 15, "phan_table2": 5, "phan_table3": 15, "phan_table4": 9,
              "shen_table1": 7, "shen_table2": 10}


def _run(args, cwd, env, timeout=1500, check=True):
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check:
        assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout + proc.stderr if check else proc


def _changed(status: str) -> set[str]:
    """Stage names `dvc status` reports as changed."""
    return {line.strip().rstrip(":") for line in status.splitlines()
            if line and not line.startswith(("\t", " ")) and line.strip().endswith(":")}


def _ran(log: str) -> set[str]:
    return {line.split("'")[1] for line in log.splitlines() if line.startswith("Running stage")}


@pytest.fixture(scope="module")
def smoke_repo(tmp_path_factory):
    if not Path("/usr/share/datasets/fashion-mnist").exists() and not (ROOT / "data/raw/fashion_mnist").exists():
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    repo = tmp_path_factory.mktemp("study")
    for name in COPY:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, repo / name, ignore=shutil.ignore_patterns("__pycache__", "tmp", "cache"))
        else:
            shutil.copy2(src, repo / name)
    if (ROOT / "data/raw/fashion_mnist").exists():  # offline machines without the Debian package
        shutil.copytree(ROOT / "data/raw/fashion_mnist", repo / "data/raw/fashion_mnist")
    shutil.copy2(repo / "profiles/smoke.yaml", repo / "params.yaml")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(repo), "DVC_NO_ANALYTICS": "1"}
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # `make test`: the other workers load the cores, and a 2-thread op of the pipeline's
        # tiny models waits for its slower thread (docs/training.md): one thread each
        env["OMP_NUM_THREADS"] = "1"
    dvc = [sys.executable, "-m", "dvc"]
    _run(dvc + ["config", "core.no_scm", "true"], repo, env)
    log = _run(dvc + ["repro"], repo, env)
    return repo, env, dvc, log


def test_every_table_has_every_paper_row_filled(smoke_repo):
    repo, *_ = smoke_repo
    built = tables.build_all_tables(repo / "runs")
    assert set(PAPER_ROWS) <= set(built)
    for name, n_rows in PAPER_ROWS.items():
        frame = built[name]
        assert len(frame) == n_rows, name
        ours_run = frame[frame["source"] == tables.THIS_RUN]
        assert len(ours_run) > 0, name
        ours_cols = [c for c in frame.columns if c.startswith("ours_") and frame[c].dtype.kind == "f"
                     and not c.endswith(("_sd", "_n"))]
        assert ours_cols, name
        empty = {c: int(ours_run[c].isna().sum()) for c in ours_cols if ours_run[c].isna().any()}
        assert not empty, f"{name}: our cells missing {empty}"
        assert "smoke" in frame.attrs["caption"] and "Fashion-MNIST" in frame.attrs["caption"]
        for ext in ("md", "csv", "tex"):
            assert (repo / "reports/tables" / f"{name}.{ext}").stat().st_size > 0


def test_reports_claims_figures_and_notebooks(smoke_repo):
    repo, *_ = smoke_repo
    index = (repo / "reports/index.html").read_text()
    notebooks = sorted((repo / "reports/notebooks").glob("*.html"))
    assert len(notebooks) == 26  # 5 families x 5 stage notebooks (01-04, 06) + 05_tables
    for page in notebooks:
        assert page.name in index
    for fig in ("phan_fig5.png", "shen_fig2_resnet18.png", "acc_vs_ops_groups.png",
                "acc_vs_ops_widths.png", "proxy_quality.png"):
        assert (repo / "reports/figures" / fig).stat().st_size > 1000
        assert fig in index
    import pandas as pd

    claims = pd.read_csv(repo / "reports/claims.csv")
    ours = claims[claims["kind"] == "claim"]
    assert len(ours) >= 20  # every claim checked: with every stage run, none is "not run"
    assert set(ours["verdict"]) <= {"supported", "contradicted", "inconclusive"}, \
        ours["verdict"].value_counts()
    per_seed = pd.read_csv(repo / "reports/tables/per_seed.csv")
    assert set(per_seed["seed"]) == {0} and len(per_seed) == 40  # 19 uniform + 21 retrained models, one seed
    proxy = pd.read_csv(repo / "reports/tables/proxy_quality.csv")
    assert len(proxy) == 5 and (proxy["genomes"] == 3).all()
    # the cost of the gpu and paper profiles, projected from the measured rates: every family
    # and stage, and the overall total
    for name in ("gpu", "paper"):
        projection = pd.read_csv(repo / f"reports/tables/projection_{name}.csv")
        assert len(projection) == 5 * 6 + 1 and (projection["hours"] > 0).all()
    assert len(pd.read_csv(repo / "reports/tables/search_vs_papers.csv")) == 10
    executed = sorted((repo / "reports/executed").glob("*.ipynb"))
    assert len(executed) == 26
    assert not (repo / "notebooks/runs").exists() and not (repo / "scratch").exists()


def test_metrics_are_listed_by_dvc(smoke_repo):
    repo, env, dvc, _ = smoke_repo
    out = _run(dvc + ["metrics", "show"], repo, env)
    assert "reports/metrics.json" in out and "metrics/uniform/vgg_small.json" in out


def test_a_second_repro_has_nothing_to_do(smoke_repo):
    repo, env, dvc, _ = smoke_repo
    assert "up to date" in _run(dvc + ["status"], repo, env)


@pytest.mark.parametrize("edit, message", [
    (("  val_size: 256", "  val_size: 256\n  vall_size: 1"), "unknown key data.vall_size (did you mean 'val_size'?)"),
    (("small_input: false, max_groups", "small_input: no, max_groups"), "groups.model.small_input = 'no' is not true or false"),
    # loading would fill the default in, but DVC would stop at the retrain stage, after the rest
    ((", fig5: null}", "}"), "groups.epochs.fig5 (default: None)"),
])
def test_a_bad_params_yaml_stops_repro_within_seconds(smoke_repo, edit, message):
    repo, env, dvc, _ = smoke_repo
    params = repo / "params.yaml"
    good = params.read_text()
    assert edit[0] in good
    params.write_text(good.replace(edit[0], edit[1], 1))
    try:
        start = time.perf_counter()
        proc = _run(dvc + ["repro"], repo, env, check=False)
        seconds = time.perf_counter() - start
    finally:
        params.write_text(good)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr
    assert _ran(proc.stdout + proc.stderr) == {"params"}, "nothing else started"
    assert seconds < 60, seconds  # the settings check itself imports no torch: about a second
    assert "up to date" in _run(dvc + ["status"], repo, env)


def test_editing_a_plot_function_invalidates_only_tables(smoke_repo):
    repo, env, dvc, _ = smoke_repo
    plots = repo / "bnnlib/plots.py"
    original = plots.read_text()
    marker = '    fig, axes = _figure(6, 3.5)\n    ax = axes[0, 0]\n    for r in results:\n        history ='
    assert marker in original
    plots.write_text(original.replace(marker, marker.replace("6, 3.5", "7, 3.5"), 1))
    try:
        assert _changed(_run(dvc + ["status"], repo, env)) == {"tables"}
    finally:
        plots.write_text(original)
    assert "up to date" in _run(dvc + ["status"], repo, env)


def test_changed_settings_redo_exactly_the_items_they_determine(smoke_repo):
    """Lower M1's budget below what the search found, give ResNet-18's final models a second
    epoch: the M1 search starts over within the new budget and its retraining follows; the
    ResNet-18 models of stage 04 are trained from scratch (their checkpoints are of another
    recipe), and nothing else runs."""
    repo, env, dvc, _ = smoke_repo
    runs = repo / "runs"
    evolution = runs / "search/mobilenet_m1/evolution/seed0"
    before = json.loads((evolution / "result.json").read_text())
    log = [json.loads(line) for line in (evolution / "log.jsonl").open()]
    ops = sorted(e["extras"]["ops"] for e in log)
    max_ops = ops[len(ops) // 4]  # a quarter of the evaluated genomes fit: the search can start
    params = repo / "params.yaml"
    text = params.read_text()
    m1 = ("mobilenet_m1: {dataset: fashion_mnist, data_root: data/raw, budget_position: null, "
          "max_ops: null, resize: short_side}")
    widths, r18 = text.split("    resnet18:\n")
    epochs = "epochs: {uniform: 1, supernet: 1, retrain: 1}"
    assert m1 in widths and epochs in r18
    params.write_text(widths.replace(m1, m1.replace("max_ops: null", f"max_ops: {max_ops}"))
                      + "    resnet18:\n" + r18.replace(epochs, epochs.replace("retrain: 1", "retrain: 2"), 1))
    assert _changed(_run(dvc + ["status"], repo, env)) == {
        "params", "search_groups@mobilenet_m1", "retrain_widths@resnet18"}
    out = _run(dvc + ["repro"], repo, env)
    assert _ran(out) == {"params", "search_groups@mobilenet_m1", "retrain_groups@mobilenet_m1",
                         "retrain_widths@resnet18", "tables"}
    after = json.loads((evolution / "result.json").read_text())
    assert after["max_ops"] == max_ops and after["best_ops"] <= max_ops < before["max_ops"]
    line = next(x for x in out.splitlines() if "evolution/seed0] starting over:" in x)
    assert f"fitness.max_ops {max_ops:.0f} != {before['max_ops']:.10g}" in line
    retrained = json.loads((runs / "retrain/mobilenet_m1/searched/seed0/result.json").read_text())
    assert retrained["genome"] == after["best"]
    for variant in ("random", "random_search"):  # the baselines follow the new budget
        assert json.loads((runs / f"retrain/mobilenet_m1/{variant}/seed0/result.json").read_text())["ops"] <= max_ops
    for variant in ("auto_a", "auto_b", "random_search_a", "random_b"):
        line = next(x for x in out.splitlines()
                    if f"retrain/resnet18/{variant}/seed0] starting over:" in x)
        assert "recipe.epochs 2 != 1" in line, line
        result = json.loads((runs / f"retrain/resnet18/{variant}/seed0/result.json").read_text())
        assert result["epochs"] == 2 and len(result["history"]) == 2
    # the uniform models depend on neither setting: their stages did not run
    assert "up to date" in _run(dvc + ["status"], repo, env)

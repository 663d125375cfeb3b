"""The whole study on the `smoke` profile, end to end through DVC, in a temporary copy.

Runs `dvc repro` (every notebook through papermill), then checks that every table of both
papers has every row with our values filled, that the report index, claims and metrics exist,
that a second `dvc repro` has nothing to do, and that changing one stage's parameter
invalidates only that stage and what depends on it. Takes a few minutes on 2 cores;
deselect with `-m "not pipeline"`.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bnnlib import tables

pytestmark = pytest.mark.pipeline

ROOT = Path(__file__).resolve().parents[1]
COPY = ["bnnlib", "notebooks", "profiles", "dvc.yaml", "params.yaml", ".dvc", ".dvcignore", "pyproject.toml"]
# rows printed in each paper table (Phan et al. Tables 1-4, Shen et al. Tables 1-2)
PAPER_ROWS = {"phan_table1": 15, "phan_table2": 5, "phan_table3": 15, "phan_table4": 9,
              "shen_table1": 7, "shen_table2": 10}


def _run(args, cwd, env, timeout=1500):
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout + proc.stderr


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
        ours_cols = [c for c in frame.columns if c.startswith("ours_") and frame[c].dtype.kind == "f"]
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
    assert len(notebooks) == 21  # 5 families x 4 stage notebooks + 05_tables
    for page in notebooks:
        assert page.name in index
    for fig in ("phan_fig5.png", "shen_fig2_resnet18.png", "acc_vs_ops_groups.png", "acc_vs_ops_widths.png"):
        assert (repo / "reports/figures" / fig).stat().st_size > 1000
        assert fig in index
    import pandas as pd

    claims = pd.read_csv(repo / "reports/claims.csv")
    assert len(claims) >= 20  # every claim checked: with every stage run, none is "not run"
    assert set(claims["verdict"]) <= {"supported", "not supported"}, claims["verdict"].value_counts()
    executed = sorted((repo / "reports/executed").glob("*.ipynb"))
    assert len(executed) == 21


def test_metrics_are_listed_by_dvc(smoke_repo):
    repo, env, dvc, _ = smoke_repo
    out = _run(dvc + ["metrics", "show"], repo, env)
    assert "reports/metrics.json" in out and "metrics/uniform/vgg_small.json" in out


def test_second_repro_does_nothing_and_a_param_change_reruns_only_downstream(smoke_repo):
    repo, env, dvc, _ = smoke_repo
    assert "up to date" in _run(dvc + ["status"], repo, env)
    params = repo / "params.yaml"
    params.write_text(params.read_text().replace("lam_b: 1.0", "lam_b: 2.0"))
    status = _run(dvc + ["status"], repo, env)
    changed = {line.strip().rstrip(":") for line in status.splitlines()
               if line and not line.startswith(("\t", " ")) and line.strip().endswith(":")}
    assert changed == {"search_widths@vgg_small", "search_widths@resnet18"}, status
    log = _run(dvc + ["repro"], repo, env)
    ran = {line.split("'")[1] for line in log.splitlines() if line.startswith("Running stage")}
    # the searches whose parameter changed, then what reads their results; nothing else
    assert ran == {"search_widths@vgg_small", "search_widths@resnet18",
                   "retrain_widths@vgg_small", "retrain_widths@resnet18", "tables"}, log
    assert "up to date" in _run(dvc + ["status"], repo, env)

"""Stage 05: every table and figure of both papers, the claims check, metrics and the index.

Reads the result files of stages 01-04 under ``runs_dir`` and writes under ``reports_dir``:
``tables/`` (every paper table with our values beside the paper's, and the Kendall tau of
one-shot scores against trained accuracies), ``figures/``, ``claims.md``/``claims.csv``,
``metrics.json`` (for ``dvc metrics show``), ``tables/projection_<profile>.csv`` (the GPU-hours
each profile of :data:`PROJECTED` would take, :mod:`bnnlib.cost`, from the step rates measured
on a GPU in :data:`RATES`) and, last, ``index.html``. Returns the
:class:`bnnlib.report.StudyReport` that notebook 05 displays, so the rendered notebook is the
study's report.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .. import cost, report, settings, tables
from ..settings import resolve
from ..utils import atomic_write_bytes, write_json

METRICS = ("test_top1", "test_top5", "ops", "memory_bits")
#: the profiles whose cost is projected before anyone starts them, and the measured rates used
PROJECTED = ("gpu", "paper")
RATES = "bench/results_gpu/rates_h200.json"


def projections(reports_dir: str | Path | None = None) -> dict[str, pd.DataFrame]:
    """Projected hours of each profile in :data:`PROJECTED` on the device of :data:`RATES`
    (``projection_<profile>``), and their supernet + search hours beside the papers' search
    GPU-hours (``search_vs_papers``); written as CSV under ``reports_dir/tables`` when given."""
    rates = cost.load_rates(resolve(RATES))
    out = {}
    for name in PROJECTED:
        params = settings.load(resolve(f"profiles/{name}.yaml"))
        out[f"projection_{name}"] = cost.project(params, rates, name)
    out["search_vs_papers"] = pd.concat(
        [cost.compare_search(out[f"projection_{name}"]).assign(profile=name) for name in PROJECTED],
        ignore_index=True)
    if reports_dir is not None:
        for key, frame in out.items():
            path = resolve(reports_dir) / "tables" / f"{key}.csv"
            atomic_write_bytes(path, frame.to_csv(index=False).encode())
    return out


def run(runs_dir: str | Path = "runs", reports_dir: str | Path = "reports") -> report.StudyReport:
    """Write every report of the study; returns the tables, figures and claims behind them."""
    runs, reports = resolve(runs_dir), resolve(reports_dir)
    results = tables.load_results(runs)
    flat = {f"{r['family']}/{r['variant']}": {k: r[k] for k in METRICS}
            for r in results.models.to_dict("records") if not tables.is_missing(r.get("test_top1"))}
    metrics = write_json(reports / "metrics.json", flat)  # before the index, which links it
    # written before the index, which links them
    study = report.build_reports(runs, reports, projections=projections(reports))
    study.written["metrics"] = [metrics]
    return study

"""Stage 05: every table and figure of both papers, the claims check, metrics and the index.

Reads the result files of stages 01-04 under ``runs_dir`` and writes under ``reports_dir``:
``tables/`` (every paper table with our values beside the paper's, and the Kendall tau of
one-shot scores against trained accuracies), ``figures/``, ``claims.md``/``claims.csv``,
``metrics.json`` (for ``dvc metrics show``) and, last, ``index.html``. Returns the
:class:`bnnlib.report.StudyReport` that notebook 05 displays, so the rendered notebook is the
study's report.
"""

from __future__ import annotations

from pathlib import Path

from .. import report, tables
from ..settings import resolve
from ..utils import write_json

METRICS = ("test_top1", "test_top5", "ops", "memory_bits")


def run(runs_dir: str | Path = "runs", reports_dir: str | Path = "reports") -> report.StudyReport:
    """Write every report of the study; returns the tables, figures and claims behind them."""
    runs, reports = resolve(runs_dir), resolve(reports_dir)
    results = tables.load_results(runs)
    flat = {f"{r['family']}/{r['variant']}": {k: r[k] for k in METRICS}
            for r in results.models.to_dict("records") if not tables.is_missing(r.get("test_top1"))}
    metrics = write_json(reports / "metrics.json", flat)  # before the index, which links it
    study = report.build_reports(runs, reports)
    study.written["metrics"] = [metrics]
    return study

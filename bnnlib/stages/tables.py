"""Stage 05: every table and figure of both papers, the claims check, metrics and the index.

Reads the result files of stages 01-04 under ``runs_dir`` and writes under ``reports_dir``:
``tables/`` (every paper table with our values beside the paper's, and the Kendall tau of
one-shot scores against trained accuracies), ``figures/``, ``claims.md``/``claims.csv``,
``metrics.json`` (for ``dvc metrics show``) and ``index.html``.
"""

from __future__ import annotations

from pathlib import Path

from .. import report, tables
from ..settings import resolve
from ..utils import write_json


def run(runs_dir: str | Path = "runs", reports_dir: str | Path = "reports") -> dict[str, list[Path]]:
    """Write every report of the study; returns the written paths by kind."""
    runs, reports = resolve(runs_dir), resolve(reports_dir)
    (reports / "tables").mkdir(parents=True, exist_ok=True)
    tables.kendall_table(runs).to_csv(reports / "tables" / "kendall_tau.csv", index=False)
    written = report.build_reports(runs, reports)  # the index last: it links the csv too
    results = tables.load_results(runs)
    keep = ("test_top1", "test_top5", "ops", "memory_bits")
    flat = {f"{r['family']}/{r['variant']}": {k: r[k] for k in keep}
            for r in results.models.to_dict("records") if not tables.is_missing(r.get("test_top1"))}
    written["metrics"] = [write_json(reports / "metrics.json", flat)]
    return written

"""The paper tables of :mod:`bnnlib.tables` as text: display cells, Markdown, LaTeX, files.

Paper columns show the papers' numbers exactly as printed; our columns are formatted by kind
(percent, OPs, speedup, hours), our accuracies as ``mean ± sd (n)`` over training seeds; a row we re-run without a result says "not run", a row citing
another paper's result has "-" in our cells. ``write_all_tables`` writes every table as
``.md``, ``.csv`` (raw numbers) and ``.tex`` (booktabs), and a ``README.md`` with all of them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from .stats import Summary
from .tables import CITED, NOT_RUN, build_all_tables, is_missing, load_results

HEADERS = {
    "module": "Module", "model": "Model", "metric": "Metric", "source": "Source",
    "cited": "Cited work", "note": "Note", "w_a": "W/A", "ours_unit": "Ours: unit",
    "paper_top1": "Top-1 % (paper)", "ours_top1": "Top-1 % (ours)",
    "paper_top5": "Top-5 % (paper)", "ours_top5": "Top-5 % (ours)",
    "paper_flops_1e8": "FLOPs x1e8 (paper)", "ours_ops_1e8": "OPs x1e8 (ours)",
    "paper_flops_M": "FLOPs M (paper)", "ours_ops_M": "OPs M (ours)",
    "paper_speedup_x": "Speedup x (paper)", "ours_speedup_x": "Speedup x (ours)",
    "paper_memory_Mbit": "Memory Mbit (paper)", "ours_memory_Mbit": "Memory Mbit (ours)",
    "paper_M1": "M1 (paper)", "ours_M1": "M1 (ours)", "paper_M2": "M2 (paper)",
    "ours_M2": "M2 (ours)", "paper_M3": "M3 (paper)", "ours_M3": "M3 (ours)",
}
HIDDEN = ("key",)  # row ids: in the CSV, not in the rendered tables
SPREAD_SUFFIXES = ("_sd", "_n")  # our spread over seeds: rendered inside the mean's cell


def hidden(col: str) -> bool:
    return col in HIDDEN or (col.startswith("ours_") and col.endswith(SPREAD_SUFFIXES))


def with_spread(cell: str, row, col: str) -> str:
    """``"75.84"`` -> ``"75.84 ± 0.52 (3)"`` when ``row`` has ``<col>_sd`` / ``<col>_n``: the
    mean over training seeds, their sample standard deviation and their number
    (``stats.Summary``'s format; ``"75.84 (1)"`` for one seed)."""
    n = row.get(f"{col}_n")
    if not cell or is_missing(n):
        return cell
    sd = row.get(f"{col}_sd")
    return Summary(float(row[col]), math.nan if is_missing(sd) else float(sd), int(n)).format()


def format_value(value: Any, kind: str) -> str:
    """Render one of our numbers: ``pct`` 2 decimals, ``ops`` 4 significant digits (fixed point),
    ``speedup`` 1 decimal, ``hours`` 3 significant digits; text as is."""
    if isinstance(value, str):
        return value
    if is_missing(value):
        return ""
    value = float(value)
    if kind == "pct":
        return f"{value:.2f}"
    if kind == "speedup":
        return f"{value:.1f}"
    if kind == "hours":
        return f"{value:.3g}"
    if kind == "ops":  # 4 significant digits, trailing zeros kept, no exponent
        if value == 0 or not math.isfinite(value):
            return f"{value:g}"
        decimals = max(0, 3 - math.floor(math.log10(abs(value))))
        return f"{value:.{decimals}f}"
    return f"{value:g}"


def display_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The table as text cells: paper numbers as printed, ours formatted, "not run" where a row
    we re-run has no result, "-" in our cells of cited rows; headers from ``HEADERS``."""
    paper_text = frame.attrs.get("paper_text", {})
    formats = frame.attrs.get("formats", {})
    row_formats = frame.attrs.get("row_formats", {})
    cols = [c for c in frame.columns if not hidden(c)]
    out = []
    for i, (_, row) in enumerate(frame.iterrows()):
        cited = row.get("source") == CITED
        cells = []
        for col in cols:
            value = row[col]
            if col.startswith("paper_"):
                cell = paper_text.get((i, col))
                cell = cell if cell is not None else format_value(value, "")
                cell = cell or "-"
            elif col.startswith("ours_") and col != "ours_unit":
                kind = row_formats.get(row.get("key"), formats.get(col, ""))
                cell = format_value(value, kind)
                if kind == "pct":
                    cell = with_spread(cell, row, col)
                if not cell:
                    cell = "-" if cited else NOT_RUN
            else:
                cell = "" if is_missing(value) else str(value)
            cells.append(cell)
        out.append(cells)
    return pd.DataFrame(out, columns=[HEADERS.get(c, c) for c in cols])


def to_markdown(frame: pd.DataFrame) -> str:
    """GitHub-flavoured Markdown: title, caption, pipe table (no ``tabulate`` needed)."""
    shown = display_frame(frame)

    def esc(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = [f"### {frame.attrs.get('title', frame.attrs.get('name', 'table'))}", "",
             frame.attrs.get("caption", ""), "",
             "| " + " | ".join(esc(c) for c in shown.columns) + " |",
             "|" + "|".join("---" for _ in shown.columns) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in cells) + " |" for cells in shown.itertuples(False)]
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}"}


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters in plain text."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def to_latex(frame: pd.DataFrame) -> str:
    """A booktabs ``tabular`` (needs ``\\usepackage{booktabs}``), caption as a comment above;
    text columns left-aligned, number columns right-aligned."""
    shown = display_frame(frame)
    cols = [c for c in frame.columns if not hidden(c)]
    align = "".join("r" if c.startswith(("paper_", "ours_")) and c != "ours_unit" else "l"
                    for c in cols)
    lines = [f"% {latex_escape(frame.attrs.get('title', ''))}",
             f"% {latex_escape(frame.attrs.get('caption', ''))}",
             f"\\begin{{tabular}}{{{align}}}", r"\toprule",
             " & ".join(latex_escape(c) for c in shown.columns) + r" \\", r"\midrule"]
    lines += [" & ".join(latex_escape(c) for c in cells) + r" \\"
              for cells in shown.itertuples(False)]
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def write_table(frame: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """Write ``<name>.md``, ``<name>.csv`` (raw numbers, empty where missing) and ``<name>.tex``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = frame.attrs["name"]
    paths = [out / f"{name}.md", out / f"{name}.csv", out / f"{name}.tex"]
    paths[0].write_text(to_markdown(frame))
    frame.to_csv(paths[1], index=False)
    paths[2].write_text(to_latex(frame))
    return paths


def write_all_tables(runs_dir: str | Path = "runs", out_dir: str | Path = "reports/tables"
                     ) -> list[Path]:
    """Build every table from ``runs_dir`` and write them (md/csv/tex) plus ``README.md`` (all
    Markdown tables in one page) into ``out_dir``; returns the written paths."""
    results = load_results(runs_dir)
    tables = build_all_tables(results)
    out = Path(out_dir)
    paths: list[Path] = []
    for frame in tables.values():
        paths += write_table(frame, out)
    intro = ["# Tables of both papers, the paper's values beside ours", "",
             f"Built by `bnnlib.tables.write_all_tables` from `{results.runs_dir}`. Paper columns "
             "show the papers' numbers as printed; our cells say `not run` where no result file "
             "exists; rows of other papers are cited, not run here. CSV and LaTeX versions sit "
             "beside each Markdown file.", ""]
    if results.skipped:
        intro += ["Skipped result files: " + "; ".join(results.skipped), ""]
    readme = out / "README.md"
    readme.write_text("\n".join(intro) + "\n" + "\n".join(to_markdown(f) for f in tables.values()))
    return paths + [readme]

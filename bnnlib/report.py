"""The study's report: every table (the paper's values beside ours), figure and claim.

``build_reports(runs_dir, reports_dir)`` writes under ``reports_dir`` the tables
(``tables/<name>.md|csv|tex``, ``tables/kendall_tau.csv``), the figures (``figures/*.png``), the
claims check (``claims.md``, ``claims.csv``) and ``index.html``, and returns a
:class:`StudyReport`: the DataFrames and figure paths, with the methods notebook 05 displays
(``table``, ``figure``, ``kendall_table``, ``claims_table``, ``tally``). The rendered notebook 05
(``notebooks/05_tables.html``) is therefore the study's report; ``index.html`` links it first,
then shows the same tables, figures and claims and links every other file under ``reports_dir``.

Both are built from the DataFrames with pandas' ``Styler.to_html`` (the same Styler in the
notebook and the index) and a page template; the index is plain HTML (no scripts, relative
links), so the folder can be moved or served as is.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING
from urllib.parse import quote

import pandas as pd

from . import claims as C
from . import table_text
from . import tables as T

if TYPE_CHECKING:
    from pandas.io.formats.style import Styler

#: where ``python -m bnnlib.notebook`` puts executed notebooks and their HTML (as in dvc.yaml)
EXECUTED_DIR, NOTEBOOKS_DIR = "executed", "notebooks"
REPORT_NOTEBOOK = "05_tables"  # its rendering is the study's report
TABLE_EXTS = (".md", ".csv", ".tex")
KENDALL = "proxy_quality"
PER_SEED = "per_seed"
SEARCH_SEEDS = "search_seeds"
COST = "cost"
COST_TITLE = ("Cost, setup and precision: seeds, models trained, hours, seed spread and the "
              "smallest decidable difference per family")

FIGURES = {  # PNG stem (bnnlib.plots.write_all_figures) -> title
    "phan_fig5": "Phan et al. Figure 5: validation top-1 and top-5 per epoch, random vs searched groups",
    "shen_fig2_resnet18": "Shen et al. Figure 2: output channels per layer, ResNet-18 "
                          "(Res18-Auto-A vs Uniform-3x)",
    "shen_fig2_vgg_small": "Shen et al. Figure 2 (our VGG-small counterpart): output channels "
                           "per layer, Auto-A and Auto-B vs Uniform-1x and Uniform-4x",
    "acc_vs_ops_groups": "Test top-1 vs OPs, groups study (MobileNet modules M1-M3), "
                         "with the Pareto front",
    "acc_vs_ops_widths": "Test top-1 vs OPs, widths study (VGG-small, ResNet-18), "
                         "with the Pareto front",
    "proxy_quality": "Proxy quality: one-shot score vs stand-alone test top-1 of genomes spread "
                     "over the OPs range (stage 06)",
}
KENDALL_TITLE = "Proxy quality: rank correlation of one-shot scores and stand-alone accuracy"
KENDALL_CAPTION = ("Per family, genomes spread over the OPs range, scored one-shot by the search's "
                   "evaluator (supernet weights, BN recalibrated, search-validation top-1) and "
                   "trained alone from scratch with a short schedule (epochs, training images as "
                   "shown; test top-1 on test images no search saw), stage 06. Kendall tau-b and "
                   "Spearman rho with 95% percentile-bootstrap intervals over genomes; 1 means the "
                   "one-shot proxy ranks them as training does, 0 no better than chance.")
CLAIMS_TITLE = "Claims check: the papers' claims, on their numbers and on ours"
VERDICT_COLOURS = {C.SUPPORTED: "#d8f0d8", C.CONTRADICTED: "#f6d6d2", C.INCONCLUSIVE: "#fbf0c8",
                   C.NOT_RUN: "#eeeeee", C.NOT_CHECKABLE: "#eeeeee"}
OURS_BACKGROUND = "#eaf2fa"  # our columns, beside the paper's

STYLE = """
body { font-family: sans-serif; max-width: 1300px; margin: 2em auto; padding: 0 1em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: left; vertical-align: top; }
thead th { background: #f0f0f0; }
caption { caption-side: top; text-align: left; padding: 0.3em 0; }
img { max-width: 100%; border: 1px solid #ddd; }
.links { font-size: 0.9em; }
"""

PAGE = Template("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>$title</title>
<style>$style</style>
</head><body>
<h1>$title</h1>
$body
</body></html>
""")


# --------------------------------------------------------------------------------------------
# Styled tables (notebook 05 and the index)


def _styler(shown: pd.DataFrame, uuid: str, title: str, caption: str = "") -> Styler:
    """``shown`` (text cells) as a Styler: escaped cells, no index, title and caption above,
    a stable table id ``T_<uuid>`` (the same HTML on every build)."""
    text = f"<b>{html.escape(title)}</b>" + (f"<br>{html.escape(caption)}" if caption else "")
    return (shown.style.set_uuid(uuid).hide(axis="index").set_caption(text)
            .format(escape="html").format_index(escape="html", axis=1))


def styled_table(frame: pd.DataFrame) -> Styler:
    """A paper table (``bnnlib.tables``) as shown: ``display_frame``'s cells, the paper's
    columns beside our shaded ones, the table's title and caption (paper and our setting)."""
    shown = table_text.display_frame(frame)
    cols = [c for c in frame.columns if not table_text.hidden(c)]
    ours = [table_text.HEADERS.get(c, c) for c in cols if c.startswith("ours_") and c != "ours_unit"]
    styler = _styler(shown, frame.attrs["name"], frame.attrs.get("title", frame.attrs["name"]),
                     frame.attrs.get("caption", ""))
    return styler.set_table_styles(
        {c: [{"selector": "td, th", "props": f"background-color: {OURS_BACKGROUND}"}]
         for c in ours}, overwrite=False)


def kendall_display(frame: pd.DataFrame) -> pd.DataFrame:
    """``tables.kendall_table`` as text cells: ``0.62 [0.31, 0.85]``."""
    def text(row, name, low, high):
        if T.is_missing(row[name]):
            return "not run"
        if T.is_missing(row[low]):
            return f"{row[name]:.2f} [no interval]"
        return f"{row[name]:.2f} [{row[low]:.2f}, {row[high]:.2f}]"

    rows = [{"family": r["family"], "genomes": str(r["genomes"]),
             "stand-alone training": f"{r['epochs']} epoch(s), {r['train_images']} images; "
                                     f"tested on {r['test_images']}",
             "Kendall tau [95% CI]": text(r, "kendall_tau", "kendall_low", "kendall_high"),
             "Spearman rho [95% CI]": text(r, "spearman_rho", "spearman_low", "spearman_high")}
            for r in frame.to_dict("records")]
    return pd.DataFrame(rows, columns=["family", "genomes", "stand-alone training",
                                       "Kendall tau [95% CI]", "Spearman rho [95% CI]"])


def styled_kendall(frame: pd.DataFrame) -> Styler:
    shown = kendall_display(frame)
    caption = KENDALL_CAPTION if len(frame) else KENDALL_CAPTION + " No supernet scores yet."
    return _styler(shown, KENDALL, KENDALL_TITLE, caption)


def styled_cost(frame: pd.DataFrame) -> Styler:
    """``tables.cost_table`` with hours to 3 significant digits."""
    shown = frame.copy()
    for col in [c for c in shown.columns if c.endswith(("_h", "_pt"))]:
        shown[col] = shown[col].map(lambda v: f"{v:.3g}")
    shown.columns = [c.replace("_h", " (h)").replace("_pt", " (pt)").replace("_", " ")
                     for c in shown.columns]
    return _styler(shown.astype(str), COST, COST_TITLE, frame.attrs.get("caption", ""))


def styled_claims(frame: pd.DataFrame) -> Styler:
    """The claims check, one row per claim, the verdict cells coloured."""
    shown = C.display_claims(frame)
    styler = _styler(shown, "claims", CLAIMS_TITLE,
                     C.INTRO.replace("`", "") + f" Summary: {C.summary(frame)}.")
    return styler.apply(lambda col: [f"background-color: {VERDICT_COLOURS.get(v, 'inherit')}"
                                     for v in col], subset=[C.SHOWN["verdict"]])


def styled_tally(frame: pd.DataFrame) -> Styler:
    return C.tally(frame).style.set_uuid("tally").set_caption(
        "<b>Claims by our verdict (rows) and by whether the paper's own numbers hold "
        "(columns)</b><br>Sanity checks and claims on cited results are not counted: "
        + html.escape(C.summary(frame)))


# --------------------------------------------------------------------------------------------
# The report


@dataclass(repr=False)
class StudyReport:
    """What the tables stage built: the DataFrames behind every written file, and the paths."""

    root: Path
    tables: dict[str, pd.DataFrame]
    kendall: pd.DataFrame
    cost: pd.DataFrame
    claims: pd.DataFrame
    figures: dict[str, Path]
    written: dict[str, list[Path]] = field(default_factory=dict)
    #: projected GPU-hours of the gpu and paper profiles (bnnlib.stages.tables.projections)
    projections: dict[str, pd.DataFrame] = field(default_factory=dict)

    def table(self, name: str) -> Styler:
        """Paper table ``name`` (``bnnlib.tables.TABLES``), the paper's values beside ours."""
        return styled_table(self.tables[name])

    def kendall_table(self) -> Styler:
        return styled_kendall(self.kendall)

    def claims_table(self) -> Styler:
        return styled_claims(self.claims)

    def cost_table(self) -> Styler:
        """Seeds, models, hours of training / supernet / search / proxy per family, versions."""
        return styled_cost(self.cost)

    def projection(self, name: str) -> Styler:
        """``projection_gpu`` / ``projection_paper`` (hours per family and stage on the device
        of the measured rates, checkpoints kept, the disk needed in the caption) or ``search_vs_papers`` (:mod:`bnnlib.cost`)."""
        frame = self.projections[name]
        caption = (f"{frame.attrs.get('device', '')}: {frame.attrs.get('source', '')}"
                   if frame.attrs else None)
        disk = frame.attrs.get("disk_GB") if frame.attrs else None
        if caption and disk:
            caption += (f". Disk: {disk['kept']:.1f} GB of checkpoints in runs/, "
                         f"{disk['with_cache']:.1f} GB with DVC's cache, at most "
                         f"{disk['peak']:.1f} GB at once")
        styler = frame.style.format(precision=3, thousands=",").hide(axis="index")
        return styler.set_caption(caption) if caption else styler

    def tally(self) -> Styler:
        """Claims counted by our verdict and by whether the paper's numbers hold."""
        return styled_tally(self.claims)

    def figure(self, name: str):
        """Figure ``name`` (a ``FIGURES`` key) as the written PNG, for a notebook to display."""
        from IPython.display import Image

        return Image(filename=str(self.figures[name]))

    def _summary(self) -> str:
        listed = ", ".join(f"{kind} {len(paths)}" for kind, paths in self.written.items())
        root = Path(os.path.abspath(self.root))
        shown = os.path.relpath(root) if root.is_relative_to(Path.cwd()) else str(root)
        return f"files written under {shown}: {listed}; claims: {C.summary(self.claims)}"

    def __repr__(self) -> str:
        return f"<StudyReport {self._summary()}>"

    def _repr_html_(self) -> str:
        """What was written, and the claims tally (notebook 05's first output)."""
        return f"<p>{html.escape(self._summary().capitalize())}.</p>" + self.tally().to_html()


def build_reports(runs_dir: str | Path = "runs", reports_dir: str | Path = "reports",
                  projections: dict[str, pd.DataFrame] | None = None) -> StudyReport:
    """Write tables, the Kendall tau table, figures and claims from ``runs_dir`` under
    ``reports_dir``, then ``index.html`` (last: it links every file there); returns the
    :class:`StudyReport`. ``projections``: cost projections already written as
    ``tables/<name>.csv`` (:func:`bnnlib.stages.tables.projections`), shown and linked too."""
    from .plots import write_all_figures

    root = Path(reports_dir)
    results = T.load_results(runs_dir)
    kendall = T.kendall_table(runs_dir)
    (root / "tables").mkdir(parents=True, exist_ok=True)
    kendall.to_csv(root / "tables" / f"{KENDALL}.csv", index=False)
    T.per_seed_frame(results).to_csv(root / "tables" / f"{PER_SEED}.csv", index=False)
    T.search_seed_frame(results).to_csv(root / "tables" / f"{SEARCH_SEEDS}.csv", index=False)
    cost = T.cost_table(results, T.proxy_records(runs_dir))
    cost.to_csv(root / "tables" / f"{COST}.csv", index=False)
    figures = write_all_figures(runs_dir, root / "figures")
    report = StudyReport(
        root=root, tables=T.build_all_tables(results), kendall=kendall, cost=cost,
        claims=C.check_claims(results), figures={p.stem: p for p in figures},
        written={"tables": table_text.write_all_tables(runs_dir, root / "tables")
                 + [root / "tables" / f"{name}.csv"
                    for name in (KENDALL, PER_SEED, SEARCH_SEEDS, COST)],
                 "figures": figures, "claims": C.write_claims(results, root)},
        projections=dict(projections or {}))
    if report.projections:
        report.written["projections"] = [root / "tables" / f"{name}.csv"
                                         for name in report.projections]
    report.written["index"] = [write_index(report)]
    return report


# --------------------------------------------------------------------------------------------
# reports/index.html


def _href(path: Path, root: Path) -> str:
    return quote(os.path.relpath(path, root).replace(os.sep, "/"))


def _link(path: Path, root: Path, text: str | None = None) -> str:
    rel = os.path.relpath(path, root).replace(os.sep, "/")
    return f'<a href="{_href(path, root)}">{html.escape(text or rel)}</a>'


def _links(paths: list[Path], root: Path) -> str:
    return '<p class="links">' + " | ".join(_link(p, root) for p in paths) + "</p>"


def notebook_pages(root: Path) -> list[Path]:
    """The rendered notebooks: every ``notebooks/*.html``, and ``notebooks/<name>.html`` of every
    ``executed/<name>.ipynb`` (``python -m bnnlib.notebook`` renders it when its run ends: the
    index, written while notebook 05 runs, links 05's page before it exists); 05 first."""
    pages = {p for p in (root / NOTEBOOKS_DIR).glob("*.html")}
    pages |= {root / NOTEBOOKS_DIR / f"{p.stem}.html" for p in (root / EXECUTED_DIR).glob("*.ipynb")}
    return sorted(pages, key=lambda p: (p.stem != REPORT_NOTEBOOK, p.name))


def write_index(report: StudyReport) -> Path:
    """Write ``<report.root>/index.html`` and return its path.

    Sections: the study's report (the rendered notebook 05), the claims check (tally and table),
    the tables (each inline, with links to its md/csv/tex), the figures (inline, linked), every
    rendered notebook, and any other file under the folder (executed notebooks, metrics)."""
    root = report.root
    index = root / "index.html"
    pages = notebook_pages(root)
    main = root / NOTEBOOKS_DIR / f"{REPORT_NOTEBOOK}.html"
    linked: set[Path] = {index, *pages}
    body = ["<p>Phan et al. 2020 (groups study) and Shen et al. 2019 (widths study): every table "
            "and figure of both papers rebuilt from this run's result files, the papers' values "
            "beside ours (shaded), and each claim of the papers checked on their numbers and "
            "on ours.</p>"]
    if main in pages:
        body.append(f"<p><b>The study's report:</b> {_link(main, root, 'notebook 05, rendered')} "
                    "(the tables, figures and claims below, with the notes to read them).</p>")

    body.append("<h2>Claims check</h2>")
    claim_files = [p for p in report.written.get("claims", []) if p.exists()]
    body += [_links(claim_files, root), report.tally().to_html(),
             report.claims_table().to_html()]
    linked.update(claim_files)

    body.append("<h2>Tables</h2>")
    table_files = [p for p in report.written.get("tables", []) if p.exists()]
    extra = {KENDALL: (KENDALL_TITLE, report.kendall_table), COST: (COST_TITLE, report.cost_table)}
    for name, frame in [*report.tables.items(), (KENDALL, report.kendall), (COST, report.cost)]:
        files = [p for p in table_files if p.stem == name and p.suffix in TABLE_EXTS]
        title, styled = extra.get(name, (frame.attrs.get("title"), lambda n=name: report.table(n)))
        body += [f'<h3 id="{name}">{html.escape(title)}</h3>', _links(files, root),
                 styled().to_html()]
        linked.update(files)
    per_seed = [p for p in table_files if p.stem in (PER_SEED, SEARCH_SEEDS)]
    body += ["<p>Every model's per-seed numbers, and each search seed's genome retrained "
             "(search-run variance apart from training variance): " + _links(per_seed, root)
             + "</p>"]
    linked.update(per_seed)

    projection_files = [p for p in report.written.get("projections", []) if p.exists()]
    if projection_files:
        body.append("<h2>Cost before you start: the gpu and paper profiles, projected</h2>")
        for path in projection_files:
            body += [f'<h3 id="{path.stem}">{html.escape(path.stem)}</h3>', _links([path], root),
                     report.projection(path.stem).to_html()]
        linked.update(projection_files)

    body.append("<h2>Figures</h2>")
    for name, path in report.figures.items():
        if path.exists():
            body.append(f'<h3 id="{name}">{html.escape(FIGURES.get(name, name))}</h3>'
                        f'<p><a href="{_href(path, root)}"><img src="{_href(path, root)}" '
                        f'alt="{html.escape(FIGURES.get(name, name))}"></a></p>')
            linked.add(path)

    body.append("<h2>Rendered notebooks</h2>")
    body.append("<ul>" + "".join(f"<li>{_link(p, root, p.stem)}"
                                 + (" (the study's report)" if p == main else "") + "</li>"
                                 for p in pages) + "</ul>"
                if pages else "<p>No rendered notebooks yet.</p>")

    others = sorted(p for p in root.rglob("*") if p.is_file() and p not in linked
                    and not p.name.startswith("."))  # .gitignore of dvc outs
    if others:
        body.append("<h2>Other files</h2><ul>"
                    + "".join(f"<li>{_link(p, root)}</li>" for p in others) + "</ul>")
    index.write_text(PAGE.substitute(title="Binary architecture search study: report",
                                     style=STYLE, body="\n".join(body)), encoding="utf-8")
    return index

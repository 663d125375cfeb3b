"""``reports/index.html``: one page linking every rendered notebook, table, figure and the
claims check, with the tables, claims and figures shown inline.

Plain HTML, no scripts, relative links (the folder can be moved or served as is). The page is
built from the files present under ``reports/``, so it lists whatever the pipeline produced;
``build_reports`` runs every writer (tables, figures, claims) and then the index.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from urllib.parse import quote

TABLE_EXTS = (".md", ".csv", ".tex")
STYLE = """
body { font-family: sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: left; }
th { background: #f0f0f0; }
img { max-width: 100%; border: 1px solid #ddd; }
.caption { color: #444; font-size: 0.9em; }
"""


def _link(path: Path, root: Path, text: str | None = None) -> str:
    rel = os.path.relpath(path, root).replace(os.sep, "/")
    return f'<a href="{quote(rel)}">{html.escape(text or rel)}</a>'


def _split_row(line: str) -> list[str]:
    """Cells of a Markdown pipe-table row (``\\|`` is a literal bar)."""
    body = line.strip()
    body = body[1:-1] if body.endswith("|") and not body.endswith("\\|") else body[1:]
    cells, cur, i = [], "", 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body) and body[i + 1] == "|":
            cur += "|"
            i += 2
            continue
        if body[i] == "|":
            cells.append(cur.strip())
            cur = ""
        else:
            cur += body[i]
        i += 1
    cells.append(cur.strip())
    return cells


def markdown_to_html(text: str, drop_title: bool = False) -> str:
    """The small Markdown subset our writers emit: headings, paragraphs, pipe tables
    (``drop_title``: leave out a leading top-level heading, when the page already has one)."""
    out, table = [], []
    if drop_title and text.startswith("# "):
        text = text.split("\n", 1)[1] if "\n" in text else ""

    def flush():
        if not table:
            return
        rows = [_split_row(r) for r in table if not set(r.replace("|", "").strip()) <= set("-: ")]
        if rows:
            out.append("<table><thead><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
                       + "</tr></thead><tbody>")
            out.extend("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
                       for r in rows[1:])
            out.append("</tbody></table>")
        table.clear()

    for line in text.splitlines():
        if line.lstrip().startswith("|"):
            table.append(line)
            continue
        flush()
        if line.startswith("#"):
            level = min(len(line) - len(line.lstrip("#")) + 1, 6)
            out.append(f"<h{level}>{html.escape(line.lstrip('#').strip())}</h{level}>")
        elif line.strip():
            out.append(f'<p class="caption">{html.escape(line.strip())}</p>')
    flush()
    return "\n".join(out)


def write_index(reports_dir: str | Path = "reports") -> Path:
    """Write ``<reports_dir>/index.html`` and return its path.

    Sections: rendered notebooks (every ``*.html`` under ``reports_dir`` except the index),
    claims check (``claims.md`` inline, links to ``claims.md`` / ``claims.csv``), tables (every
    ``*.md`` / ``*.csv`` / ``*.tex`` under ``tables/``, grouped by name, each shown inline from its
    Markdown), figures (every ``*.png``, shown inline and linked), other files (any remaining
    ``.md`` / ``.csv`` / ``.json`` / ``.tex`` / ``.ipynb``, e.g. executed notebooks).
    """
    root = Path(reports_dir)
    root.mkdir(parents=True, exist_ok=True)
    index = root / "index.html"
    files = sorted(p for p in root.rglob("*") if p.is_file() and p != index)
    shown: set[Path] = set()
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>Binary architecture search study: report</title>",
             f"<style>{STYLE}</style></head><body>",
             "<h1>Binary architecture search study</h1>",
             "<p>Phan et al. 2020 (groups study) and Shen et al. 2019 (widths study): every table "
             "and figure of both papers rebuilt from this run's result files, the papers' values "
             "beside ours.</p>"]

    notebooks = [p for p in files if p.suffix == ".html"]
    parts.append("<h2>Rendered notebooks</h2>")
    parts.append("<ul>" + "".join(f"<li>{_link(p, root)}</li>" for p in notebooks) + "</ul>"
                 if notebooks else "<p>No rendered notebooks yet.</p>")
    shown.update(notebooks)

    parts.append("<h2>Claims check</h2>")
    claims = [p for p in (root / "claims.md", root / "claims.csv") if p.exists()]
    if claims:
        parts.append("<p>" + " | ".join(_link(p, root) for p in claims) + "</p>")
        if (root / "claims.md").exists():
            parts.append(markdown_to_html((root / "claims.md").read_text(), drop_title=True))
    else:
        parts.append("<p>No claims check yet.</p>")
    shown.update(claims)

    parts.append("<h2>Tables</h2>")
    tables = [p for p in files if p.suffix in TABLE_EXTS and "tables" in p.relative_to(root).parts]
    groups: dict[Path, list[Path]] = {}
    for p in tables:
        groups.setdefault(p.with_suffix(""), []).append(p)
    if not groups:
        parts.append("<p>No tables yet.</p>")
    for stem, paths in groups.items():
        md = stem.with_suffix(".md")
        parts.append(f"<h3>{html.escape(stem.name)}</h3><p>"
                     + " | ".join(_link(p, root) for p in paths) + "</p>")
        if md.exists() and stem.name.lower() != "readme":
            parts.append(markdown_to_html(md.read_text()))
    shown.update(tables)

    parts.append("<h2>Figures</h2>")
    figures = [p for p in files if p.suffix == ".png"]
    if not figures:
        parts.append("<p>No figures yet.</p>")
    for p in figures:
        rel = quote(os.path.relpath(p, root).replace(os.sep, "/"))
        parts.append(f"<h3>{_link(p, root)}</h3>"
                     f'<a href="{rel}"><img src="{rel}" alt="{html.escape(p.stem)}"></a>')
    shown.update(figures)

    others = [p for p in files if p not in shown and p.suffix in (".md", ".csv", ".json", ".tex", ".ipynb")]
    if others:
        parts.append("<h2>Other files</h2><ul>"
                     + "".join(f"<li>{_link(p, root)}</li>" for p in others) + "</ul>")
    parts.append("</body></html>")
    index.write_text("\n".join(parts) + "\n")
    return index


def build_reports(runs_dir: str | Path = "runs", reports_dir: str | Path = "reports"
                  ) -> dict[str, list[Path]]:
    """Tables (``reports/tables``), figures (``reports/figures``), claims (``reports/claims.*``)
    and ``reports/index.html`` from ``runs_dir``; returns the written paths by kind."""
    from .claims import write_claims
    from .plots import write_all_figures
    from .tables import write_all_tables

    root = Path(reports_dir)
    written = {
        "tables": write_all_tables(runs_dir, root / "tables"),
        "figures": write_all_figures(runs_dir, root / "figures"),
        "claims": write_claims(runs_dir, root),
    }
    written["index"] = [write_index(root)]
    return written

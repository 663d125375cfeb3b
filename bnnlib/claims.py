"""Which of the papers' claims our run supports, with the numbers.

Each :class:`Claim` is a predicate over a *source* of numbers. It is checked twice: on the
paper's own table values (``paper_holds``: a check of the claim against the paper's tables, which
also catches a claim the paper's text states more strongly than its numbers show) and on our
results (``verdict``: "supported", "not supported", or "not run" when a number it needs is
missing).

Numbers: accuracies in percent (ours: test top-1 / top-5 of the final model), OPs absolute
(paper: the FLOPs column times its unit; ours: ``bnnlib.flops.count``), budgets absolute.

Tolerances (the papers give none; stated with each claim):
    - "matches" an accuracy: at most ``MATCH_PT`` = 0.5 percentage points below it.
    - "about a quarter of the FLOPs" (Shen et al. Table 1, Auto-B vs Uniform-4x): OPs ratio
      at most ``QUARTER_MAX`` = 0.40 (the paper's own ratio is 59.3 / 166 = 0.36).
    - "similar FLOPs" (Shen et al. Table 2, Auto-B vs Uniform-3x): OPs ratio within
      [1 / ``SIMILAR_RATIO``, ``SIMILAR_RATIO``], ``SIMILAR_RATIO`` = 1.15 (paper: 660 / 607 = 1.09).
    - Strict inequalities elsewhere ("beats" = higher accuracy, "fewer" = fewer OPs).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import paper_values as pv
from .tables import Results, is_missing, load_results

MATCH_PT = 0.5
QUARTER_MAX = 0.40
SIMILAR_RATIO = 1.15

SUPPORTED, NOT_SUPPORTED, NOT_RUN = "supported", "not supported", "not run"
PHAN, SHEN = "Phan et al. 2020", "Shen et al. 2019"

LABELS = {"groups1": "Groups = 1", "groups4": "Groups = 4", "groups16": "Groups = 16",
          "random": "Random Group", "searched": "Searched", "fp": "Full-Precision",
          "uniform1x": "Uniform-1x", "uniform2x": "Uniform-2x", "uniform3x": "Uniform-3x",
          "uniform4x": "Uniform-4x", "auto_a": "Auto-A", "auto_b": "Auto-B"}


# --------------------------------------------------------------------------------------------
# Sources of numbers


class PaperSource:
    """The papers' table values: top1/top5 (%), ops (absolute), max_ops (absolute)."""

    name = "paper"

    def value(self, family: str, key: str, metric: str) -> float:
        if family in pv.PHAN_MODULES:
            if metric == "max_ops":
                return pv.paper_value(pv.PHAN_TABLE2, "max_flops", family) * 1e8
            column = {"ops": "flops"}.get(metric, metric)
            scale = 1e8 if metric == "ops" else 1.0
            return pv.paper_value(pv.PHAN_TABLE1[family], key, column) * scale
        rows = {"vgg_small": pv.SHEN_TABLE1, "resnet18": pv.SHEN_TABLE2}[family]
        column = {"ops": "flops"}.get(metric, metric)
        scale = 1e6 if metric in ("ops", "memory") else 1.0
        if column not in pv.rows_by_key(rows)[key].values:
            return math.nan
        return pv.paper_value(rows, key, column) * scale

    def history(self, family: str, key: str) -> list[dict] | None:
        return None  # the papers' curves exist only as figures


class OursSource:
    """Our results: test top-1/top-5 of the final model (%), ops, memory bits, the search's
    ``max_ops`` budget (groups study). The OPs of a searched model not yet retrained fall back to
    its search record's ``best_ops`` (the same genome)."""

    name = "ours"

    def __init__(self, results: Results):
        self.results = results

    def value(self, family: str, key: str, metric: str) -> float:
        if metric == "max_ops":
            search = self.results.search(family, "evolution")
            return _num(search and search.get("max_ops"))
        rec = self.results.model(family, key)
        if metric in ("top1", "top5"):
            return _num(rec and rec.get(f"test_{metric}")) * 100
        if metric == "memory":
            return _num(rec and rec.get("memory_bits"))
        if metric == "ops":
            if rec is None and key == "searched":
                search = self.results.search(family, "evolution")
                return _num(search and search.get("best_ops"))
            return _num(rec and rec.get("ops"))
        raise KeyError(metric)

    def history(self, family: str, key: str) -> list[dict] | None:
        rec = self.results.model(family, key)
        history = rec.get("history") if rec else None
        return history if isinstance(history, list) and history else None


def _num(value) -> float:
    return math.nan if is_missing(value) else float(value)


# --------------------------------------------------------------------------------------------
# Claims


Check = Callable[[object], "tuple[bool, str] | None"]


@dataclass(frozen=True)
class Claim:
    id: str
    paper: str
    where: str
    text: str
    tolerance: str
    check: Check
    paper_note: str = ""  # shown when the paper's numbers cannot be checked (figures)


def _get(src, family: str, wanted: list[tuple[str, str]]) -> dict | None:
    values = {(k, m): src.value(family, k, m) for k, m in wanted}
    return None if any(math.isnan(v) for v in values.values()) else values


def _ops(v: float) -> str:
    return f"{v / 1e6:.4g}M OPs"


def _describe(values: dict, keys: list[str]) -> str:
    parts = []
    for key in keys:
        bits = []
        if (key, "top1") in values:
            bits.append(f"{values[key, 'top1']:.2f}%")
        if (key, "ops") in values:
            bits.append(_ops(values[key, "ops"]))
        parts.append(f"{LABELS.get(key, key)} {' / '.join(bits)}")
    return "; ".join(parts)


def beats_with_fewer_ops(family: str, a: str, others: list[str],
                         fewer_than: list[str] | None = None) -> Check:
    """``a`` has a higher top-1 than every one of ``others`` and fewer OPs than each of
    ``fewer_than`` (default: all of ``others``)."""
    fewer_than = others if fewer_than is None else fewer_than

    def check(src):
        keys = [a, *others]
        v = _get(src, family, [(k, m) for k in keys for m in ("top1", "ops")])
        if v is None:
            return None
        ok = all(v[a, "top1"] > v[o, "top1"] for o in others) and \
            all(v[a, "ops"] < v[o, "ops"] for o in fewer_than)
        return ok, _describe(v, keys)
    return check


def extremes(family: str, best: str, worst: str | None, required: list[str],
             optional: list[str]) -> Check:
    """``best`` has the highest and ``worst`` (unless None) the lowest top-1 among ``required``
    and those of ``optional`` that have a value."""
    def check(src):
        v = _get(src, family, [(k, "top1") for k in required])
        if v is None:
            return None
        for k in optional:
            x = src.value(family, k, "top1")
            if not math.isnan(x):
                v[k, "top1"] = x
        accs = {k: x for (k, _), x in v.items()}
        ok = max(accs, key=accs.get) == best and (worst is None or min(accs, key=accs.get) == worst)
        return ok, _describe(v, list(accs))
    return check


def within_budget(family: str) -> Check:
    def check(src):
        ops, budget = src.value(family, "searched", "ops"), src.value(family, "searched", "max_ops")
        if math.isnan(ops) or math.isnan(budget):
            return None
        return ops <= budget, f"searched {_ops(ops)} vs MaxFLOPs budget {_ops(budget)}"
    return check


def increasing(family: str, keys: list[str]) -> Check:
    def check(src):
        v = _get(src, family, [(k, "top1") for k in keys])
        if v is None:
            return None
        accs = [v[k, "top1"] for k in keys]
        return all(x < y for x, y in zip(accs[:-1], accs[1:], strict=True)), _describe(v, keys)
    return check


def below(family: str, a: str, b: str) -> Check:
    def check(src):
        v = _get(src, family, [(a, "top1"), (b, "top1")])
        if v is None:
            return None
        return v[a, "top1"] < v[b, "top1"], _describe(v, [a, b])
    return check


def matches(family: str, a: str, b: str, ops_ratio: tuple[float, float] | None = None) -> Check:
    """top1(a) >= top1(b) - MATCH_PT, and (if given) ops(a) / ops(b) in ``ops_ratio``."""
    def check(src):
        wanted = [(a, "top1"), (b, "top1")]
        if ops_ratio:
            wanted += [(a, "ops"), (b, "ops")]
        v = _get(src, family, wanted)
        if v is None:
            return None
        ok = v[a, "top1"] >= v[b, "top1"] - MATCH_PT
        text = _describe(v, [a, b])
        if ops_ratio:
            ratio = v[a, "ops"] / v[b, "ops"]
            ok = ok and ops_ratio[0] <= ratio <= ops_ratio[1]
            text += f"; OPs ratio {ratio:.3f}"
        return ok, text
    return check


def beats_similar_ops(family: str, a: str, b: str) -> Check:
    def check(src):
        v = _get(src, family, [(k, m) for k in (a, b) for m in ("top1", "ops")])
        if v is None:
            return None
        ratio = v[a, "ops"] / v[b, "ops"]
        ok = v[a, "top1"] > v[b, "top1"] and 1 / SIMILAR_RATIO <= ratio <= SIMILAR_RATIO
        return ok, _describe(v, [a, b]) + f"; OPs ratio {ratio:.3f}"
    return check


def every_epoch_above(family: str, a: str, b: str) -> Check:
    """Validation top-1 of ``a`` above ``b`` at every epoch both histories have."""
    def check(src):
        ha, hb = src.history(family, a), src.history(family, b)
        if not ha or not hb:
            return None
        va = {h["epoch"]: h.get("val_top1") for h in ha if isinstance(h, dict) and "epoch" in h}
        vb = {h["epoch"]: h.get("val_top1") for h in hb if isinstance(h, dict) and "epoch" in h}
        common = sorted(e for e in va.keys() & vb.keys()
                        if va[e] is not None and vb[e] is not None)
        if not common:
            return None
        gaps = [100 * (va[e] - vb[e]) for e in common]
        return all(g > 0 for g in gaps), (
            f"{LABELS[a]} - {LABELS[b]} validation top-1 over {len(common)} epochs: "
            f"min {min(gaps):+.2f} pt, mean {sum(gaps) / len(gaps):+.2f} pt")
    return check


def _claims() -> list[Claim]:
    claims = []
    strict = "strict: higher top-1, fewer OPs"
    for fam in pv.PHAN_MODULES:
        m = pv.PHAN_MODULE_LABELS[fam]
        claims.append(Claim(
            f"phan-searched-vs-random-{m}", PHAN, f"Table 1 ({m}), Sec. 4.2",
            f"{m}: searched groups beat random groups in top-1 with fewer FLOPs", strict,
            beats_with_fewer_ops(fam, "searched", ["random"])))
    for fam in pv.PHAN_MODULES:
        m = pv.PHAN_MODULE_LABELS[fam]
        claims.append(Claim(
            f"phan-groups-order-{m}", PHAN, f"Table 1 ({m}), Sec. 4.2",
            f"{m}: Groups = 1 is the most accurate and Groups = 16 the least accurate model",
            "among Groups 1/4/16, plus Random and Ours where run",
            extremes(fam, "groups1", "groups16", ["groups1", "groups4", "groups16"],
                     ["random", "searched"])))
    for fam in pv.PHAN_MODULES:
        m = pv.PHAN_MODULE_LABELS[fam]
        claims.append(Claim(
            f"phan-budget-{m}", PHAN, f"Table 2 ({m})",
            f"{m}: the searched model satisfies the MaxFLOPs budget", "OPs <= budget",
            within_budget(fam)))
    for fam in ("mobilenet_m1", "mobilenet_m3"):
        m = pv.PHAN_MODULE_LABELS[fam]
        claims.append(Claim(
            f"phan-searched-vs-uniform-{m}", PHAN, f"Table 1 ({m}), Sec. 4.2",
            f"{m}: searched groups outperform uniform g=4 and g=16 in accuracy and take fewer "
            f"FLOPs (as the paper's text states it)", strict,
            beats_with_fewer_ops(fam, "searched", ["groups4", "groups16"])))
        claims.append(Claim(
            f"phan-searched-vs-uniform-acc-{m}", PHAN, f"Table 1 ({m}), Sec. 4.2",
            f"{m}: searched groups beat uniform g=4 and g=16 in top-1, with fewer FLOPs than "
            f"g=4 (the part the paper's numbers bear out)", strict,
            beats_with_fewer_ops(fam, "searched", ["groups4", "groups16"], ["groups4"])))
    for fam in ("mobilenet_m1", "mobilenet_m2"):
        m = pv.PHAN_MODULE_LABELS[fam]
        claims.append(Claim(
            f"phan-fig5-{m}", PHAN, f"Figure 5 ({m}), Sec. 4.2",
            f"{m}: training with searched groups is more accurate than with random groups at "
            f"every epoch", "strict, at every epoch both runs recorded",
            every_epoch_above(fam, "searched", "random"),
            paper_note="curves only (Fig. 5); text: about +2 pt at all epochs for M1, M2"))

    vgg, r18 = "vgg_small", "resnet18"
    uniforms = ["uniform1x", "uniform2x", "uniform3x", "uniform4x"]
    claims += [
        Claim("shen-vgg-uniform-increasing", SHEN, "Table 1, Sec. 3.2",
              "VGG-small: top-1 increases with the uniform width 1x -> 2x -> 3x -> 4x",
              "strictly increasing", increasing(vgg, uniforms)),
        Claim("shen-vgg-binary-below-fp", SHEN, "Table 1, Sec. 3.2",
              "VGG-small: the binary 1x model is less accurate than full precision",
              "strict", below(vgg, "uniform1x", "fp")),
        Claim("shen-vgg-4x-below-fp", SHEN, "Table 1, Sec. 3.2",
              "VGG-small: even Uniform-4x does not reach full-precision accuracy", "strict",
              below(vgg, "uniform4x", "fp")),
        Claim("shen-vgg-autob-vs-4x", SHEN, "Table 1, Sec. 3.2",
              "VGG-small: Auto-B matches Uniform-4x accuracy with about a quarter of its FLOPs",
              f"top-1 >= Uniform-4x - {MATCH_PT} pt; OPs ratio <= {QUARTER_MAX}",
              matches(vgg, "auto_b", "uniform4x", (0.0, QUARTER_MAX))),
        Claim("shen-vgg-autoa-vs-1x", SHEN, "Table 1, Sec. 3.2",
              "VGG-small: Auto-A beats Uniform-1x accuracy with fewer FLOPs", strict,
              beats_with_fewer_ops(vgg, "auto_a", ["uniform1x"])),
        Claim("shen-vgg-autob-closest-to-fp", SHEN, "Table 1, Sec. 3.2",
              "VGG-small: Auto-B has the smallest accuracy gap to full precision of the binary "
              "models", "highest top-1 among Uniform-1x..4x, Auto-B (and Auto-A where run)",
              extremes(vgg, "auto_b", None, [*uniforms, "auto_b"], ["auto_a"])),
        Claim("shen-r18-uniform-increasing", SHEN, "Table 2, Sec. 3.2",
              "ResNet-18: top-1 increases with the uniform width 1x -> 2x -> 3x -> 4x",
              "strictly increasing", increasing(r18, uniforms)),
        Claim("shen-r18-binary-below-fp", SHEN, "Table 2, Sec. 3.2",
              "ResNet-18: the binary 1x model is less accurate than full precision", "strict",
              below(r18, "uniform1x", "fp")),
        Claim("shen-r18-4x-matches-fp", SHEN, "Table 2, Sec. 2",
              "ResNet-18: Uniform-4x reaches full-precision accuracy",
              f"top-1 >= FP - {MATCH_PT} pt", matches(r18, "uniform4x", "fp")),
        Claim("shen-r18-autob-matches-fp", SHEN, "Table 2, Sec. 3.2",
              "ResNet-18: Auto-B matches full precision with less than 1/3 of its FLOPs",
              f"top-1 >= FP - {MATCH_PT} pt; OPs ratio < 1/3",
              matches(r18, "auto_b", "fp", (0.0, 1 / 3 - 1e-12))),
        Claim("shen-r18-autob-vs-3x", SHEN, "Table 2, Sec. 3.2",
              "ResNet-18: with similar FLOPs, Auto-B beats Uniform-3x in top-1",
              f"higher top-1; OPs ratio within 1/{SIMILAR_RATIO}..{SIMILAR_RATIO}",
              beats_similar_ops(r18, "auto_b", "uniform3x")),
        Claim("shen-r18-autoa-vs-3x", SHEN, "Table 2, Figure 2, Sec. 3.2",
              "ResNet-18: Auto-A matches Uniform-3x accuracy with fewer FLOPs",
              f"top-1 >= Uniform-3x - {MATCH_PT} pt; OPs ratio < 1",
              matches(r18, "auto_a", "uniform3x", (0.0, 1 - 1e-12))),
    ]
    return claims


CLAIMS: list[Claim] = _claims()


def check_claims(results: Results | str | Path = "runs",
                 claims: list[Claim] | None = None) -> pd.DataFrame:
    """One row per claim: ``id, paper, where, claim, tolerance, paper_numbers, paper_holds
    ("yes"/"no"/"n/a"), ours_numbers, verdict ("supported"/"not supported"/"not run")``."""
    if not isinstance(results, Results):
        results = load_results(results)
    paper, ours = PaperSource(), OursSource(results)
    rows = []
    for claim in claims if claims is not None else CLAIMS:
        on_paper, on_ours = claim.check(paper), claim.check(ours)
        rows.append({
            "id": claim.id, "paper": claim.paper, "where": claim.where, "claim": claim.text,
            "tolerance": claim.tolerance,
            "paper_numbers": on_paper[1] if on_paper else claim.paper_note,
            "paper_holds": "n/a" if on_paper is None else ("yes" if on_paper[0] else "no"),
            "ours_numbers": on_ours[1] if on_ours else "",
            "verdict": NOT_RUN if on_ours is None else (SUPPORTED if on_ours[0] else NOT_SUPPORTED),
        })
    return pd.DataFrame(rows)


#: the columns shown in reports (``claims.md``, notebook 05, the index), with their headers
SHOWN = {"id": "id", "claim": "claim", "where": "where", "tolerance": "tolerance",
         "paper_numbers": "paper numbers", "paper_holds": "paper holds",
         "ours_numbers": "our numbers", "verdict": "verdict"}
INTRO = ("Each claim the papers' tables support, checked on the paper's own numbers "
         "(`paper holds`) and on ours (`verdict`). Ours: test accuracy of the final model, "
         "OPs = real MACs + binary MACs / 64 on our input size. Tolerances per claim; "
         f"\"matches\" = at most {MATCH_PT} pt below.")


def display_claims(frame: pd.DataFrame) -> pd.DataFrame:
    """``check_claims``'s frame as shown: the ``SHOWN`` columns and headers, "-" for empty."""
    shown = frame[list(SHOWN)].astype(str).replace("", "-")
    return shown.rename(columns=SHOWN).reset_index(drop=True)


def tally(frame: pd.DataFrame) -> pd.DataFrame:
    """Number of claims by our verdict (rows: supported, not supported, not run, total) and by
    whether the paper's own numbers bear the claim out (columns: yes, no, n/a, total)."""
    table = pd.crosstab(pd.Categorical(frame["verdict"], [SUPPORTED, NOT_SUPPORTED, NOT_RUN]),
                        pd.Categorical(frame["paper_holds"], ["yes", "no", "n/a"]),
                        dropna=False)
    table["total"] = table.sum(axis=1)
    table.loc["total"] = table.sum(axis=0)
    table.index.name, table.columns.name = "our verdict", "paper holds"
    return table


def summary(frame: pd.DataFrame) -> str:
    """One line: "11 supported, 16 not supported, 0 not run"."""
    counts = frame["verdict"].value_counts()
    return ", ".join(f"{counts.get(v, 0)} {v}" for v in (SUPPORTED, NOT_SUPPORTED, NOT_RUN))


def claims_markdown(frame: pd.DataFrame) -> str:
    shown = display_claims(frame)
    head = ["# Claims check", "", INTRO, "", f"Summary: {summary(frame)}.", "",
            "| " + " | ".join(shown.columns) + " |", "|" + "|".join("---" for _ in shown.columns) + "|"]
    body = ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |"
            for row in shown.itertuples(index=False)]
    return "\n".join(head + body) + "\n"


def write_claims(runs_dir: str | Path = "runs", out_dir: str | Path = "reports") -> list[Path]:
    """Write ``claims.md`` and ``claims.csv`` into ``out_dir``; returns the paths."""
    frame = check_claims(runs_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    md, csv = out / "claims.md", out / "claims.csv"
    md.write_text(claims_markdown(frame))
    frame.to_csv(csv, index=False)
    return [md, csv]

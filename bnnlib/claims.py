"""Which of the papers' claims our runs support: a statistical verdict per claim.

Each :class:`Claim` keeps the papers' wording (quoted or paraphrased, with its section or
table) and is made of one or more *parts*, each a comparison of two numbers. A claim is checked
twice:

- on the **paper's** own printed numbers (``paper_holds``): one value per number, no seeds, so a
  part holds or fails by its rule on the exact values: "yes", "no", "marginal" (holds, but an
  accuracy part clears its bar by less than a seed spread could resolve, see below) or "n/a"
  (a number the paper does not print). This also catches a claim the text states more strongly
  than its own tables show (Phan et al.'s M1 searched model has *more* FLOPs than Groups = 16).
- on **our** per-seed samples (``verdict``), with :mod:`bnnlib.stats` (Welch ``1 - ALPHA``
  intervals, ALPHA = 0.05; see docs/statistics.md): "supported", "contradicted",
  "inconclusive" (the interval does not decide; a side with one seed always), "not run"
  (a number is missing).

Parts and their tests (``a``, ``b`` per-seed samples; accuracies in percent = test top-1 /
top-5 of the final model; OPs in millions; memory in Mbit):

- ``higher``: "a is more accurate than b", ``stats.compare(a, b)``.
- ``lower``: "a has fewer OPs / less memory than ``scale`` x b", ``stats.compare_lower(a,
  scale * b)``. OPs and memory of one genome do not vary by seed; both sides constant give the
  exact verdict from the sign (stats' zero-spread rule), while the random draws (``random``,
  ``random_a``, ``random_b``: one genome per seed) vary and get an interval.
- ``about``: "a - b is about X points": ``stats.equivalent(a, b + X, ABOUT_PT)`` (TOST): supported
  when the 90% interval of ``a - b`` lies inside ``(X - 1, X + 1)``, contradicted when the 95%
  interval lies wholly outside, inconclusive otherwise. Used for Phan et al.'s "about 2%"
  (Fig. 5, judged on the final models' test top-1 and top-5, not on curves) and Shen et al.'s
  "about 3%" (binary VGG-small below FP) and "about 2% improvement" (Auto-A over Uniform-1x).
- ``near``: "a matches b" ("comparable", "same performance", "similar accuracy"):
  ``stats.equivalent(a, b, MATCH_PT)``, MATCH_PT = 1 point.
- ``near ratio``: "similar FLOPs": ``stats.equivalent(log a, log b, log SIMILAR_RATIO)``, i.e.
  the ratio within ``[1 / 1.15, 1.15]`` (Shen et al.'s Auto-B vs Uniform-3x: 660 / 607 = 1.09).

A claim with several parts is supported when every part is, contradicted when any part is,
"not run" when a part lacks a number (and none is contradicted), inconclusive otherwise. The
row shows each part's difference, interval and verdict: ``Comparison.text`` (95% interval) for
higher / lower, and ``a - b`` (or the ratio ``a / b``) with the 90% interval that decides an
equivalence part.

Tolerances and choices (the papers give none):

- "about X%" = X +- ``ABOUT_PT`` = 1 point (so "about 2%" = between 1 and 3 points).
- "matches" / "reaches" / "comparable" = within +-``MATCH_PT`` = 1 point.
- "about 1/4 of the FLOPs and memory" (Shen et al. Table 1, Auto-B vs Uniform-4x):
  ``a < QUARTER_MAX * b``, QUARTER_MAX = 0.40 (the paper's own ratios: 0.36 and 0.28).
- "less than 1/3 computational cost" (Shen et al. Table 2, Auto-B vs FP): ``a < b / 3``.
- "similar FLOPs": ratio within 1 / ``SIMILAR_RATIO`` .. ``SIMILAR_RATIO`` = 1.15.
- Random widths "at Auto-A's OPs" (a sanity check): every draw within ``RANDOM_OPS_TOL`` = 5%
  of the searched model's OPs, the tolerance stage 04 draws them with
  (``bnnlib.stages.retrain.OPS_TOLERANCE``).

"marginal" on the paper side: a typical spread of top-1 accuracy between training seeds is
taken to be ``TYPICAL_SEED_SD_PT`` = 0.3 points. This is a choice, not a measurement of these
papers: both report one run per model, so their own seed spread is unknown; a few tenths of a
point is the order usually seen between seeds of ImageNet classifiers, and binary networks
train less stably, so 0.3 is, if anything, generous to the papers. With 3 seeds per side and that spread,
the smallest difference a 95% interval decides is ``MARGINAL_PT =
stats.decidable_difference(0.3, 3)`` = 0.68 points; a paper part on accuracy that holds by
less (``a - b`` for higher; distance to the band's edge for about / near) is "marginal": the
paper's single run cannot tell it from seed noise. Example: Phan et al.'s M1 "Ours" 60.90 vs
"Groups = 4" 60.89 (0.01 points).

Genome properties are decided by a rule on the genome, not statistically (a retrained genome
is one architecture, the same for every seed): supported when every distinct genome we have
(the retrained records', else the search's best) satisfies the rule, contradicted when none
does, inconclusive when they disagree.

- Phan et al. Sec. 4.5, "the search algorithm tends to assign small number of groups [in] the
  first layers": the mean log2 group count of the first ``PHAN_THIRD`` = 4 of the 13 binary
  3x3 convs (blocks 1-4) is below that of the last 4 (blocks 10-13); log2 because group
  counts are powers of two, a multiplicative scale. M2's 5 real 1x1 genes are left out. The
  same rule is applied to our random-sampling genomes and shown for reference: the first blocks
  have fewer input channels and so fewer (smaller) candidate group counts, which favours the
  rule even without a search.
- Shen et al. Fig. 2, "compared with Uniform-3x, Res18-Auto-A has fewer output channels in the
  1st, 2nd and last stages. In addition, [it] needs more channels for the middle feature maps
  inside each block": (1) each of the stage-1, stage-2 and stage-4 output ratios (genes 0, 3,
  9 of ``bnnlib.models.resnet``) is below 3; (2) the mean of the 8 block-inner ratios (genes
  1, 2, 4, 5, 7, 8, 10, 11) is above 3.

Kinds (column ``kind``): "claim" (counted in :func:`tally`); "sanity check" (holds by
construction or by the search's constraint: the MaxFLOPs budget, random widths at the
searched OPs; listed, not counted); "cited results" (a claim against other papers' ImageNet
numbers, e.g. CI-BCNN, MoBiNet, Bi-Real Net, ABC-Net, which we cannot run: checked on the paper's
numbers only, our verdict "not checkable here", not counted). Claims marked "ours" compare
against baselines this study adds (``random_search``, ``random_a``, ...): the paper has no
numbers for them.

For an inconclusive claim, ``needs`` says how many seeds per side would decide the difference
of the paper's size (its margin over the bar when the paper's numbers hold, else ours), at
the spread we observed (pooled sd of the two sides; with one seed, ``TYPICAL_SEED_SD_PT``
assumed): the smallest ``n`` with ``stats.decidable_difference(sd, n) < size`` (alpha doubled
for equivalence parts, whose verdict uses the 90% interval); the part needing most is shown.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from . import paper_values as pv
from . import stats
from .registry import FIG5_PREFIX
from .tables import Results, is_missing, load_results

SUPPORTED, CONTRADICTED, INCONCLUSIVE = stats.SUPPORTED, stats.CONTRADICTED, stats.INCONCLUSIVE
NOT_RUN, NOT_CHECKABLE = "not run", "not checkable here"
VERDICTS = (SUPPORTED, CONTRADICTED, INCONCLUSIVE, NOT_RUN)
HOLDS = ("yes", "marginal", "no", "n/a")
CLAIM, SANITY, CITED = "claim", "sanity check", "cited results"
PHAN, SHEN = "Phan et al. 2020", "Shen et al. 2019"

ALPHA = 0.05
TYPICAL_SEED_SD_PT = 0.3
MARGINAL_SEEDS = 3
MARGINAL_PT = stats.decidable_difference(TYPICAL_SEED_SD_PT, MARGINAL_SEEDS, alpha=ALPHA)
ABOUT_PT = 1.0
MATCH_PT = 1.0
QUARTER_MAX = 0.40
SIMILAR_RATIO = 1.15
RANDOM_OPS_TOL = 0.05
MAX_SEEDS = 1000
PHAN_GROUP_GENES, PHAN_THIRD = 13, 4
R18_OUTPUTS_FEWER = (0, 3, 9)  # stage 1, 2 and 4 output widths (bnnlib.models.resnet genes)
R18_INNER = (1, 2, 4, 5, 7, 8, 10, 11)
UNIFORM3X_RATIO = 3.0

LABELS = {"groups1": "Groups = 1", "groups4": "Groups = 4", "groups16": "Groups = 16",
          "random": "Random Group", "random_search": "Random Search", "searched": "Ours",
          "fp": "Full-Precision", "uniform1x": "Uniform-1x", "uniform2x": "Uniform-2x",
          "uniform3x": "Uniform-3x", "uniform4x": "Uniform-4x", "auto_a": "Auto-A",
          "auto_b": "Auto-B", "random_a": "Random-A", "random_b": "Random-B",
          "random_search_a": "Random-Search-A", "random_search_b": "Random-Search-B"}
METRICS = {"top1": "top-1", "top5": "top-5", "ops": "OPs", "memory": "memory"}
ACCURACY = ("top1", "top5")
PHAN_SOTA = "phan_sota"  # Phan et al. Tables 3 (top-1/top-5) and 4 (FLOPs), cited rows included

HIGHER, LOWER, ABOUT, NEAR, NEAR_RATIO = "higher", "lower", "about", "near", "near ratio"


@dataclass(frozen=True)
class Ref:
    """One number of one model: ``family``/``key`` (our variant or the paper's row key);
    ``ours``: our variant to read instead where it has results (Figure 5's own runs)."""

    family: str
    key: str
    metric: str = "top1"
    name: str = ""
    ours: str | None = None

    @property
    def label(self) -> str:
        return self.name or LABELS.get(self.key, self.key)


# --------------------------------------------------------------------------------------------
# Sources of numbers


class PaperSource:
    """The papers' printed numbers, one per cell: accuracies in %, OPs in millions (Phan et
    al.'s x10^8 times 100), memory in Mbit. A printed bound "> x" becomes the float just above
    x (so "fewer than > 1.54" holds for 1.54, as the paper argues)."""

    def value(self, ref: Ref) -> tuple[float, str] | None:
        """(number, as shown) of ``ref``; None where the paper prints none."""
        cell = self._cell(ref)
        text = cell[0].get(ref.key, {}).get(cell[1]) if cell else None
        if text is None or text.strip() in ("", "-"):
            return None
        scale, bound = cell[2], text.strip().startswith(">")
        x = float(text.strip().lstrip("> ")) * scale
        if bound:
            return math.nextafter(x, math.inf), f"> {x:.4g}"
        return x, (text if ref.metric in ACCURACY else f"{x:.4g}")

    @staticmethod
    def _cell(ref: Ref) -> tuple[dict, str, float] | None:
        """(rows by key, column, scale to our units) of ``ref``'s table."""
        rows = {k: r.values for k, r in _paper_rows(ref).items()}
        if not rows or ref.metric == "memory" and ref.family != "vgg_small":
            return None
        column = "flops" if ref.metric == "ops" else ref.metric
        phan = ref.family in pv.PHAN_MODULES or ref.family == PHAN_SOTA
        return rows, column, (100.0 if phan and ref.metric == "ops" else 1.0)

    def sample(self, ref: Ref) -> list[float] | None:
        got = self.value(ref)
        return None if got is None else [got[0]]

    def budget(self, family: str) -> float | None:
        if family not in pv.PHAN_MODULES:
            return None
        return pv.paper_value(pv.PHAN_TABLE2, "max_flops", family) * 100.0


def _paper_rows(ref: Ref) -> dict[str, pv.Row]:
    if ref.family in pv.PHAN_MODULES:
        return pv.rows_by_key(pv.PHAN_TABLE1[ref.family])
    if ref.family == PHAN_SOTA:
        return pv.rows_by_key(pv.PHAN_TABLE4 if ref.metric == "ops" else pv.PHAN_TABLE3)
    return pv.rows_by_key({"vgg_small": pv.SHEN_TABLE1, "resnet18": pv.SHEN_TABLE2}.get(
        ref.family, ()))


class OursSource:
    """Our per-seed results: test top-1/top-5 (%), OPs (millions), memory (Mbit), the
    search's MaxFLOPs budget, genomes. The OPs of a searched model not yet retrained fall back
    to its search record's ``best_ops`` (the same genome)."""

    FIELDS = {"top1": ("test_top1", 100.0), "top5": ("test_top5", 100.0),
              "ops": ("ops", 1e-6), "memory": ("memory_bits", 1e-6)}

    def __init__(self, results: Results):
        self.results = results

    def sample(self, ref: Ref) -> list[float] | None:
        field, scale = self.FIELDS[ref.metric]
        values = [v * scale for v in self.results.samples(ref.family, self.key(ref), field)]
        if not values and (ref.key, ref.metric) == ("searched", "ops"):
            values = [v * scale for v in [self._search(ref.family, "best_ops")] if v is not None]
        return values or None

    def key(self, ref: Ref) -> str:
        """Our variant ``ref`` reads: ``ref.ours`` where it has results, else ``ref.key``."""
        if ref.ours is not None and self.results.records(ref.family, ref.ours):
            return ref.ours
        return ref.key

    def _search(self, family: str, name: str, method: str = "evolution") -> float | None:
        value = (self.results.search(family, method) or {}).get(name)
        return None if is_missing(value) else float(value)

    def budget(self, family: str) -> float | None:
        value = self._search(family, "max_ops")
        return None if value is None else value * 1e-6

    def genomes(self, family: str, key: str, method: str | None = None) -> list[list]:
        """The distinct genomes of ``key``'s records, else the best of search ``method``."""
        found: list[list] = []
        for rec in self.results.records(family, key):
            genome = rec.get("genome")
            if isinstance(genome, list) and genome and genome not in found:
                found.append(genome)
        best = (self.results.search(family, method) or {}).get("best") if method else None
        return found or ([list(best)] if isinstance(best, (list, tuple)) and best else [])


# --------------------------------------------------------------------------------------------
# Parts of a claim


@dataclass(frozen=True)
class PaperPart:
    holds: bool
    text: str
    slack: float  # how far the numbers clear the part's bar (> 0: holds)
    accuracy: bool


@dataclass(frozen=True)
class OurPart:
    verdict: str
    text: str
    need: tuple[int, str] | None = None  # seeds per side that would decide it, and the note


def _decided_with(sd: float, size: float, alpha: float) -> int | None:
    """Smallest n (2..MAX_SEEDS) with ``decidable_difference(sd, n) < size``, by bisection."""
    if stats.decidable_difference(sd, MAX_SEEDS, alpha=alpha) >= size:
        return None
    lo, hi = 1, MAX_SEEDS  # decidable at hi, not at lo (n = 1 has no interval)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if stats.decidable_difference(sd, mid, alpha=alpha) < size:
            hi = mid
        else:
            lo = mid
    return hi


@dataclass(frozen=True)
class Cmp:
    """A comparison of two numbers: ``test`` in higher / lower / about / near / near ratio."""

    a: Ref
    b: Ref
    test: str = HIGHER
    target: float = 0.0  # about: the claimed a - b
    scale: float = 1.0  # lower: a < scale * b
    margin: float = 0.0  # about / near: +- points; near ratio: the largest ratio

    @property
    def label(self) -> str:
        a, b, m = self.a.label, self.b.label, METRICS[self.a.metric]
        times = "" if self.scale == 1 else f"{self.scale:.3g} x "
        return {HIGHER: f"{a} > {b} ({m})", LOWER: f"{a} < {times}{b} ({m})",
                ABOUT: f"{a} - {b} = {self.target:g} ± {self.margin:g} pt ({m})",
                NEAR: f"|{a} - {b}| < {self.margin:g} pt ({m})",
                NEAR_RATIO: f"{a} / {b} in 1/{self.margin:g}..{self.margin:g} ({m} ratio)"}[self.test]

    def judge(self, xa: list[float], xb: list[float]) -> stats.Comparison:
        if self.test == HIGHER:
            return stats.compare(xa, xb, alpha=ALPHA)
        if self.test == LOWER:
            return stats.compare_lower(xa, [self.scale * v for v in xb], alpha=ALPHA)
        if self.test == NEAR_RATIO:
            return stats.equivalent([math.log(v) for v in xa], [math.log(v) for v in xb],
                                    math.log(self.margin), alpha=ALPHA)
        return stats.equivalent(xa, [v + self.target for v in xb], self.margin, alpha=ALPHA)

    def slack(self, diff: float) -> float:
        if self.test == HIGHER:
            return diff
        if self.test == LOWER:
            return -diff
        bound = math.log(self.margin) if self.test == NEAR_RATIO else self.margin
        return bound - abs(diff)

    def _ratio(self, xa: list[float], xb: list[float]) -> str:
        if self.a.metric in ACCURACY or self.test == NEAR_RATIO:
            return ""
        return f", ratio {(sum(xa) / len(xa)) / (sum(xb) / len(xb)):.3g}"

    def on_paper(self, src: PaperSource) -> PaperPart | None:
        va, vb = src.value(self.a), src.value(self.b)
        if va is None or vb is None:
            return None
        slack, accuracy = self.slack(self.judge([va[0]], [vb[0]]).diff), self.a.metric in ACCURACY
        status = "fails" if slack <= 0 else \
            "holds, marginal" if accuracy and slack < MARGINAL_PT else "holds"
        text = f"{self.label}: {va[1]} vs {vb[1]}{self._ratio([va[0]], [vb[0]])}: {status}"
        return PaperPart(slack > 0, text, slack, accuracy)

    def on_ours(self, src: OursSource, paper: PaperPart | None) -> OurPart:
        xa, xb = src.sample(self.a), src.sample(self.b)
        if xa is None or xb is None:
            missing = self.a if xa is None else self.b
            return OurPart(NOT_RUN, f"{self.label}: {missing.label} not run")
        c = self.judge(xa, xb)
        read = [src.key(r) for r in (self.a, self.b) if src.key(r) != r.key]
        text = f"{self.label}{' [ours: ' + ' vs '.join(read) + ']' if read else ''}: " \
               f"{self._shown(c)}{self._ratio(xa, xb)}"
        need = self._need(c, paper) if c.verdict == INCONCLUSIVE else None
        return OurPart(c.verdict, text, need)

    def _shown(self, c: stats.Comparison) -> str:
        """``c`` as text: difference [95% interval] for higher / lower; for the equivalence
        tests a - b (or the ratio a / b) with the 90% interval that decides them."""
        digits = 2 if self.a.metric in ACCURACY else 3
        if self.test in (HIGHER, LOWER):
            return c.format(digits)
        back = math.exp if self.test == NEAR_RATIO else (lambda x: x + self.target)
        lo, hi = c.ci_tost or (math.nan, math.nan)
        sign = "" if self.test == NEAR_RATIO else "+"
        shown = "[no interval]" if math.isnan(lo) else \
            f"[{back(lo):.{digits}f}, {back(hi):.{digits}f}] 90%"
        return f"{back(c.diff):{sign}.{digits}f} {shown} (n = {c.n_a} vs {c.n_b}): {c.verdict}"

    def _need(self, c: stats.Comparison, paper: PaperPart | None) -> tuple[int, str] | None:
        """Seeds per side that would decide this part at the observed spread (module doc);
        the paper's margin only for accuracies (its OPs are of another input size)."""
        size, whose = (paper.slack, "paper's") if paper and paper.holds and paper.accuracy \
            else (self.slack(c.diff), "our")
        sd, assumed = math.sqrt((c.sd_a ** 2 + c.sd_b ** 2) / 2), ""
        if math.isnan(sd) and self.a.metric in ACCURACY:
            sd, assumed = TYPICAL_SEED_SD_PT, " assumed"
        if not size > 0 or not sd > 0:
            return None
        n = _decided_with(sd, size, 2 * ALPHA if self.test in (ABOUT, NEAR, NEAR_RATIO) else ALPHA)
        shown = f"{n}" if n else f"> {MAX_SEEDS}"
        return (n or MAX_SEEDS + 1,
                f"{shown} seeds per side ({self.label}: {whose} margin {size:.3g}, "
                f"sd {sd:.3g}{assumed})")


class Rule:
    """A part decided by a rule on exact numbers (budget, OPs, genome), not by seeds.
    ``check(src)`` returns (True / False / None when genomes disagree, text), or None when a
    number is missing; ``paper_side``: whether the paper prints what the rule needs."""

    paper_side = False

    def check(self, src) -> tuple[bool | None, str] | None:
        raise NotImplementedError

    def on_paper(self, src: PaperSource) -> PaperPart | None:
        got = self.check(src) if self.paper_side else None
        return None if got is None else PaperPart(bool(got[0]), got[1], math.nan, False)

    def on_ours(self, src: OursSource, paper: PaperPart | None) -> OurPart:
        got = self.check(src)
        if got is None:
            return OurPart(NOT_RUN, f"{self.label}: not run")
        verdict = {True: SUPPORTED, False: CONTRADICTED}.get(got[0], INCONCLUSIVE)
        return OurPart(verdict, f"{got[1]}: {verdict}")

    @property
    def label(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class WithinBudget(Rule):
    """Every OPs value of ``key`` at most the search's MaxFLOPs budget."""

    family: str
    key: str
    paper_side: bool = True

    @property
    def label(self) -> str:
        return f"{LABELS[self.key]} OPs <= MaxFLOPs"

    def check(self, src):
        values, budget = src.sample(Ref(self.family, self.key, "ops")), src.budget(self.family)
        if values is None or budget is None:
            return None
        return (max(values) <= budget,
                f"{self.label}: largest {max(values):.4g} of {len(values)} vs {budget:.4g} M")


@dataclass(frozen=True)
class NearOps(Rule):
    """Every OPs value of ``key`` within ``tol`` (relative) of ``ref``'s mean OPs."""

    family: str
    key: str
    ref: str
    tol: float = RANDOM_OPS_TOL

    @property
    def label(self) -> str:
        return f"{LABELS[self.key]} OPs within {self.tol:.0%} of {LABELS[self.ref]}'s"

    def check(self, src):
        values = src.sample(Ref(self.family, self.key, "ops"))
        ref = src.sample(Ref(self.family, self.ref, "ops"))
        if values is None or ref is None:
            return None
        target = sum(ref) / len(ref)
        worst = max(abs(v / target - 1) for v in values)
        return worst <= self.tol, f"{self.label}: largest deviation {worst:.1%} of {len(values)}"


@dataclass(frozen=True)
class GenomeRule(Rule):
    """``rule`` on every distinct genome of ``key`` (else the best of search ``method``);
    ``reference``: a variant whose genomes are scored by the same rule, shown only."""

    label_text: str
    family: str
    key: str
    method: str
    rule: Callable[[Sequence], tuple[bool, str]]
    reference: str | None = None

    @property
    def label(self) -> str:
        return self.label_text

    def check(self, src):
        if not isinstance(src, OursSource):
            return None
        genomes = src.genomes(self.family, self.key, self.method)
        if not genomes:
            return None
        got = [self.rule(g) for g in genomes]
        holds = {ok for ok, _ in got}
        text = f"{self.label}: " + "; ".join(t for _, t in got)
        refs = [self.rule(g)[0] for g in src.genomes(self.family, self.reference)] \
            if self.reference else []
        if refs:
            text += f" (for reference, {LABELS[self.reference]}: {sum(refs)} of {len(refs)} hold)"
        return (holds.pop() if len(holds) == 1 else None), text


def few_groups_first(genome: Sequence) -> tuple[bool, str]:
    """Phan et al. Sec. 4.5: fewer groups in the first blocks (module docstring)."""
    logs = [math.log2(g) for g in genome[:PHAN_GROUP_GENES]]
    first, last = (sum(x) / len(x) for x in (logs[:PHAN_THIRD], logs[-PHAN_THIRD:]))
    return first < last, f"mean log2 groups {first:.2f} (blocks 1-4) vs {last:.2f} (10-13)"


def fewer_stage_outputs(genome: Sequence) -> tuple[bool, str]:
    """Shen et al. Fig. 2 (1): stage 1, 2, 4 output ratios below Uniform-3x's."""
    ratios = [float(genome[i]) for i in R18_OUTPUTS_FEWER]
    return all(r < UNIFORM3X_RATIO for r in ratios), \
        f"stage 1/2/4 output ratios {'/'.join(f'{r:g}' for r in ratios)} vs {UNIFORM3X_RATIO:g}"


def more_inner(genome: Sequence) -> tuple[bool, str]:
    """Shen et al. Fig. 2 (2): mean block-inner ratio above Uniform-3x's."""
    mean = sum(float(genome[i]) for i in R18_INNER) / len(R18_INNER)
    return mean > UNIFORM3X_RATIO, f"mean inner ratio {mean:.2f} vs {UNIFORM3X_RATIO:g}"


Part = Cmp | Rule


# --------------------------------------------------------------------------------------------
# The claims


@dataclass(frozen=True)
class Claim:
    id: str
    paper: str
    where: str
    text: str  # the paper's sentence, quoted or paraphrased
    test: str  # how we judge it
    parts: tuple[Part, ...]
    kind: str = CLAIM
    ours_only: bool = False  # against a baseline of ours: no paper numbers
    paper_note: str = ""  # shown beside (or instead of) the paper's numbers


def _r(fam: str, key: str, metric: str = "top1", name: str = "") -> Ref:
    return Ref(fam, key, metric, name)


def higher(fam: str, a: str, b: str, metric: str = "top1") -> Cmp:
    return Cmp(_r(fam, a, metric), _r(fam, b, metric))


def fewer(fam: str, a: str, b: str, metric: str = "ops", scale: float = 1.0) -> Cmp:
    return Cmp(_r(fam, a, metric), _r(fam, b, metric), LOWER, scale=scale)


def about(fam: str, a: str, b: str, target: float, metric: str = "top1") -> Cmp:
    return Cmp(_r(fam, a, metric), _r(fam, b, metric), ABOUT, target=target, margin=ABOUT_PT)


def near(fam: str, a: str, b: str) -> Cmp:
    return Cmp(_r(fam, a), _r(fam, b), NEAR, margin=MATCH_PT)


T_ACC = "top-1: 95% interval of the difference above 0"
T_OPS = "OPs: interval below 0 (exact for fixed genomes)"
T_ABOUT = f"TOST: 90% interval of the difference within X ± {ABOUT_PT:g} pt"
T_NEAR = f"TOST: 90% interval within ±{MATCH_PT:g} pt"
T_RULE = "by rule on the genome (one architecture), not statistical"
OURS_NOTE = "a baseline of ours, not in the paper"


def _phan_module_claims(fam: str) -> list[Claim]:
    m = pv.PHAN_MODULE_LABELS[fam]
    where = f"Sec. 4.2, Table 1 ({m})"
    return [
        Claim(f"phan-searched-vs-random-{m}", PHAN, where,
              f"{m}: \"our search group networks are more accurate and efficient\" than random "
              "groups \"that require more computational cost\"", f"{T_ACC}; {T_OPS}",
              (higher(fam, "searched", "random"), fewer(fam, "searched", "random"))),
        Claim(f"phan-searched-vs-random-search-{m}", PHAN, where,
              f"{m} (ours): the evolutionary search beats a random search with the same "
              "number of evaluations and the same MaxFLOPs budget", T_ACC,
              (higher(fam, "searched", "random_search"),), ours_only=True),
        Claim(f"phan-groups-order-{m}", PHAN, where,
              f"{m}: accuracy falls from fully (g = 1) to grouped convolution, \"a trade-off of "
              "performance between fully convolution and depth-wise convolution\"",
              f"{T_ACC}, each step", (higher(fam, "groups1", "groups4"),
                                      higher(fam, "groups4", "groups16"))),
        Claim(f"phan-first-layers-{m}", PHAN, "Sec. 4.5",
              f"{m}: \"when observing the first layers, we realize that the search algorithm "
              "tends to assign small number of groups\"", T_RULE,
              (GenomeRule("mean log2 groups, first 4 blocks < last 4", fam, "searched",
                          "evolution", few_groups_first, reference="random"),),
              paper_note="text only (no genome printed)"),
        Claim(f"phan-vs-fp-{m}", PHAN, "Sec. 4.3",
              f"{m}: compared to the full-precision MobileNet, the binary network accelerates "
              "(approx. 4x / 9x / 17x for M1 / M2 / M3) at a top-1 loss (10 / 11.6 / 19.8 %)",
              f"{T_OPS}; FP top-1 above ours (our FP: the real-valued twin of M1)",
              (Cmp(_r(fam, "searched", "ops"), _r("mobilenet_m1", "fp", "ops"), LOWER),
               Cmp(_r("mobilenet_m1", "fp"), _r(fam, "searched"))),
              paper_note="text only: FP MobileNet is not in the tables"),
        Claim(f"phan-budget-{m}", PHAN, f"Table 2 ({m})",
              f"{m}: the searched model satisfies the MaxFLOPs budget", "OPs <= budget",
              (WithinBudget(fam, "searched"),), kind=SANITY),
        Claim(f"phan-budget-baselines-{m}", PHAN, f"Table 2 ({m})",
              f"{m} (ours): the random-sampling and random-search genomes satisfy the budget",
              "every OPs value <= budget",
              (WithinBudget(fam, "random"), WithinBudget(fam, "random_search")),
              kind=SANITY, ours_only=True),
    ]


def _phan_claims() -> list[Claim]:
    claims = [c for fam in pv.PHAN_MODULES for c in _phan_module_claims(fam)]
    for fam in ("mobilenet_m1", "mobilenet_m3"):
        m = pv.PHAN_MODULE_LABELS[fam]
        claims.append(Claim(
            f"phan-searched-vs-uniform-{m}", PHAN, f"Sec. 4.2, Table 1 ({m})",
            f"\"in M1 and M3 our searched group models outperform comparable uniform group "
            f"models (g=4 and 16) in accuracy and take less FLOPs\" ({m})", f"{T_ACC}; {T_OPS}",
            (higher(fam, "searched", "groups4"), higher(fam, "searched", "groups16"),
             fewer(fam, "searched", "groups4"), fewer(fam, "searched", "groups16"))))
    for fam in ("mobilenet_m1", "mobilenet_m2"):
        m = pv.PHAN_MODULE_LABELS[fam]
        fig5 = [Cmp(replace(_r(fam, "searched", metric), ours=FIG5_PREFIX + "searched"),
                    replace(_r(fam, "random", metric), ours=FIG5_PREFIX + "random"),
                    ABOUT, target=2.0, margin=ABOUT_PT) for metric in ("top1", "top5")]
        claims.append(Claim(
            f"phan-fig5-{m}", PHAN, f"Sec. 4.2, Figure 5 ({m})",
            f"{m}: searched groups are \"more accurate ... (about 2%) in both Top-1 and Top-5\" "
            "than random groups", f"{T_ABOUT}, X = 2, on the last epoch's test accuracy of "
            "Figure 5's own runs where the profile trains them (groups.epochs.fig5), else of the "
            "final models", tuple(fig5),
            paper_note="Table 1's final models; Fig. 5's curves are not in numbers"))
    mods = [(fam, pv.PHAN_MODULE_LABELS[fam]) for fam in pv.PHAN_MODULES]
    pairs = list(zip(mods[:-1], mods[1:], strict=True))
    claims.append(Claim(
        "phan-modules-tradeoff", PHAN, "Sec. 4.3, Table 2",
        "From M1 to M2 to M3 the binary network gets faster (4x, 9x, 17x) and loses more "
        "top-1 (10%, 11.6%, 19.8% below full precision)", f"{T_OPS}; {T_ACC}, each step",
        tuple(Cmp(_r(f2, "searched", "ops", f"{m2} Ours"), _r(f1, "searched", "ops", f"{m1} Ours"),
                  LOWER) for (f1, m1), (f2, m2) in pairs)
        + tuple(Cmp(_r(f1, "searched", "top1", f"{m1} Ours"), _r(f2, "searched", "top1", f"{m2} Ours"))
                for (f1, m1), (f2, m2) in pairs)))
    return claims


def _sota(key: str, metric: str = "top1") -> Ref:
    return Ref(PHAN_SOTA, key, metric, pv.rows_by_key(pv.PHAN_TABLE3)[key].label)


def _cited_claims() -> list[Claim]:
    m1, m2, m3 = "mobilenet_m1", "mobilenet_m2", "mobilenet_m3"

    def beats(a: str, b: str) -> Cmp:
        return Cmp(_sota(a), _sota(b))

    def cheaper(a: str, b: str) -> Cmp:
        return Cmp(_sota(a, "ops"), _sota(b, "ops"), LOWER)

    abc = Ref("resnet18", "abc_5_3_785m", name="ABC{5/3} 785M")
    return [
        Claim("phan-m1-vs-ci-bcnn", PHAN, "Sec. 4.4, Tables 3-4",
              "M1 \"surpasses CI-BCNN 1% Top-1 accuracy with lower number of FLOPs (ours: "
              "1.54x10^8, CI-BCNN: > 1.54x10^8)\"", "paper's numbers only",
              (beats(m1, "ci_bcnn18_add"), cheaper(m1, "ci_bcnn18_add")), kind=CITED),
        Claim("phan-m1-vs-mobinet-bireal", PHAN, "Sec. 4.4, Tables 3-4",
              "M1 \"outperforms the MoBiNet 6% and the Bi-RealNet-18 4% Top-1 accuracy with "
              "less computational cost\"", "paper's numbers only",
              (beats(m1, "mobinet"), beats(m1, "bireal18"), cheaper(m1, "mobinet"),
               cheaper(m1, "bireal18")), kind=CITED),
        Claim("phan-m2-m3-vs-bireal-cibcnn", PHAN, "Sec. 4.5, Tables 1 and 3",
              "\"our module 2 and module 3 have higher accuracy than ... BiReal-Net and "
              "CI-BCNN\"", "paper's numbers only",
              tuple(beats(m, b) for m in (m2, m3) for b in ("bireal18", "ci_bcnn18")), kind=CITED),
        Claim("shen-r18-vs-abc-net", SHEN, "Sec. 3.2, Table 2",
              "\"Our Uniform and Automatic models consistently performs better than ABC-Net by "
              "a large margin\"", "paper's numbers only (against the better ABC-Net row)",
              tuple(Cmp(_r("resnet18", k), abc) for k in
                    ("uniform1x", "uniform2x", "uniform3x", "uniform4x", "auto_a", "auto_b")),
              kind=CITED),
    ]


def _shen_family_claims(fam: str, tag: str) -> list[Claim]:
    where = f"Sec. 3.2, Table {1 if fam == 'vgg_small' else 2}"
    claims = [
        Claim(f"shen-{tag}-uniform-increasing", SHEN, where,
              f"{tag}: \"As we uniformly increase the width, the accuracy increases "
              "subsequently\"", f"{T_ACC}, each step",
              tuple(higher(fam, f"uniform{k + 1}x", f"uniform{k}x") for k in (1, 2, 3))),
        Claim(f"shen-{tag}-binary-below-fp", SHEN, where,
              f"{tag}: the binary 1x model is less accurate than full precision", T_ACC,
              (higher(fam, "fp", "uniform1x"),)),
    ]
    for x in ("a", "b"):
        auto, label = f"auto_{x}", f"Auto-{x.upper()}"
        claims += [
            Claim(f"shen-{tag}-auto{x}-vs-random", SHEN, where,
                  f"{tag} (ours): {label} beats random widths drawn at its OPs", T_ACC,
                  (higher(fam, auto, f"random_{x}"),), ours_only=True),
            Claim(f"shen-{tag}-auto{x}-vs-random-search", SHEN, where,
                  f"{tag} (ours): {label} beats the best of a random search with the same "
                  "evaluations and fitness (eq. 4)", f"{T_ACC} (OPs ratio shown)",
                  (higher(fam, auto, f"random_search_{x}"),), ours_only=True),
        ]
    claims.append(Claim(
        f"shen-{tag}-random-at-auto-ops", SHEN, "stage 04 (ours)",
        f"{tag} (ours): the random widths are drawn at Auto-A's / Auto-B's OPs",
        f"every draw within {RANDOM_OPS_TOL:.0%}",
        (NearOps(fam, "random_a", "auto_a"), NearOps(fam, "random_b", "auto_b")),
        kind=SANITY, ours_only=True))
    return claims


def _shen_vgg_claims(fam: str = "vgg_small") -> list[Claim]:
    where = "Sec. 3.2, Table 1"
    return [
        Claim("shen-vgg-binary-drop-about-3pt", SHEN, where,
              "\"The standard binarized VGG-Small decreases accuracy only by about 3%\"",
              f"{T_ABOUT}, X = 3", (about(fam, "fp", "uniform1x", 3.0),)),
        Claim("shen-vgg-4x-below-fp", SHEN, where,
              "\"with 4x widened, the accuracy of binarized network still does not achieve "
              "that of full-precision network\"", T_ACC, (higher(fam, "fp", "uniform4x"),)),
        Claim("shen-vgg-autob-vs-4x", SHEN, where,
              "\"Our Automatic-B model achieves higher accuracy than the Uniform-4x with about "
              "1/4 FLOPs and memory\"", f"{T_ACC}; OPs and memory < {QUARTER_MAX:g} x Uniform-4x's",
              (higher(fam, "auto_b", "uniform4x"),
               fewer(fam, "auto_b", "uniform4x", scale=QUARTER_MAX),
               fewer(fam, "auto_b", "uniform4x", "memory", QUARTER_MAX))),
        Claim("shen-vgg-autob-closest-to-fp", SHEN, where,
              "Auto-B \"has the smallest accuracy gap with the full-precision model\"",
              f"{T_ACC}, against every other binary model",
              tuple(higher(fam, "auto_b", k) for k in
                    ("uniform1x", "uniform2x", "uniform3x", "uniform4x", "auto_a"))),
        Claim("shen-vgg-autoa-vs-1x", SHEN, where,
              "\"Although our Automatic-A model even has less channels than the original "
              "Uniform-1x model, it achieves higher accuracy with about 2% improvement\"",
              f"{T_ABOUT}, X = 2; OPs and memory below Uniform-1x's",
              (about(fam, "auto_a", "uniform1x", 2.0), fewer(fam, "auto_a", "uniform1x"),
               fewer(fam, "auto_a", "uniform1x", "memory"))),
    ]


def _shen_r18_claims(fam: str = "resnet18") -> list[Claim]:
    where = "Sec. 3.2, Table 2"
    fig2 = "Sec. 3.2, Figure 2"
    return [
        Claim("shen-r18-4x-matches-fp", SHEN, "Sec. 2.2, Table 2",
              "\"by only expanding channels by 4 times, binary neural networks can obtain "
              "comparable performance to that of their full-precision model\"", T_NEAR,
              (near(fam, "uniform4x", "fp"),)),
        Claim("shen-r18-autob-matches-fp", SHEN, where,
              "\"Automatic-B ... can obtain the same performance with the full-precision model "
              "with less than 1/3 computational cost\"", f"{T_NEAR}; OPs < FP's / 3",
              (near(fam, "auto_b", "fp"), fewer(fam, "auto_b", "fp", scale=1 / 3))),
        Claim("shen-r18-autob-vs-3x", SHEN, where,
              "\"With similar FLOPs, Automatic-B outperform Uniform-3x by 1.1% in terms of "
              "Top-1 accuracy\"", f"{T_ACC}; OPs ratio within 1/{SIMILAR_RATIO:g}..{SIMILAR_RATIO:g} (TOST on log OPs)",
              (higher(fam, "auto_b", "uniform3x"),
               Cmp(_r(fam, "auto_b", "ops"), _r(fam, "uniform3x", "ops"), NEAR_RATIO,
                   margin=SIMILAR_RATIO))),
        Claim("shen-r18-autob-vs-3x-top5", SHEN, where,
              "Automatic-B outperforms Uniform-3x by \"0.8% Top-5 accuracy\"",
              "top-5: 95% interval of the difference above 0",
              (higher(fam, "auto_b", "uniform3x", "top5"),)),
        Claim("shen-r18-autoa-vs-3x", SHEN, fig2,
              "\"two binary networks with similar accuracy, i.e. Res18-Auto-A and Uniform-3x\", "
              "Auto-A with fewer FLOPs (495M vs 607M)", f"{T_NEAR}; {T_OPS}",
              (near(fam, "auto_a", "uniform3x"), fewer(fam, "auto_a", "uniform3x"))),
        Claim("shen-r18-fig2-layout", SHEN, fig2,
              "\"compared with Uniform-3x, ... Res18-Auto-A has fewer output channels in the "
              "1st, 2nd and last stages. In addition, Res18-Auto-A needs more channels for the "
              "middle feature maps inside each block\"", T_RULE,
              (GenomeRule("stage 1, 2, 4 outputs below 3x", fam, "auto_a", "evolution_a",
                          fewer_stage_outputs),
               GenomeRule("mean block-inner width above 3x", fam, "auto_a", "evolution_a",
                          more_inner)),
              paper_note="figure only"),
    ]


def _claims() -> list[Claim]:
    shen = _shen_family_claims("vgg_small", "vgg") + _shen_vgg_claims() \
        + _shen_family_claims("resnet18", "r18") + _shen_r18_claims()
    return _phan_claims() + shen + _cited_claims()


CLAIMS: list[Claim] = _claims()


# --------------------------------------------------------------------------------------------
# Checking


def combine(verdicts: Sequence[str]) -> str:
    """A claim's verdict from its parts' (module docstring)."""
    if CONTRADICTED in verdicts:
        return CONTRADICTED
    if NOT_RUN in verdicts:
        return NOT_RUN
    return SUPPORTED if all(v == SUPPORTED for v in verdicts) else INCONCLUSIVE


def _paper_side(claim: Claim, parts: list[PaperPart | None]) -> tuple[str, str]:
    """(paper_holds, paper_numbers) of ``claim`` from its parts on the paper's numbers."""
    known = [p for p in parts if p is not None]
    text = "; ".join(p.text for p in known)
    if claim.paper_note:
        text = f"{text} ({claim.paper_note})" if text else claim.paper_note
    if any(not p.holds for p in known):
        return "no", text
    if not known or len(known) < len(parts):
        return "n/a", text
    slacks = [p.slack for p in known if p.accuracy]
    return ("marginal" if slacks and min(slacks) < MARGINAL_PT else "yes"), text


COLUMNS = ["id", "kind", "paper", "where", "claim", "test", "paper_numbers", "paper_holds",
           "ours_numbers", "verdict", "needs"]


def _row(claim: Claim, paper: PaperSource, ours: OursSource) -> dict:
    on_paper = [None if claim.ours_only else p.on_paper(paper) for p in claim.parts]
    holds, paper_numbers = _paper_side(claim, on_paper)
    if claim.ours_only and not claim.paper_note:
        paper_numbers = OURS_NOTE
    if claim.kind == CITED:
        verdict, ours_numbers, needs = NOT_CHECKABLE, "cited results, not run here", ""
    else:
        got = [p.on_ours(ours, pp) for p, pp in zip(claim.parts, on_paper, strict=True)]
        verdict, ours_numbers = combine([g.verdict for g in got]), "; ".join(g.text for g in got)
        need = max((g.need for g in got if g.need), default=None)
        needs = need[1] if need and verdict == INCONCLUSIVE else ""
    return dict(zip(COLUMNS, (claim.id, claim.kind, claim.paper, claim.where, claim.text,
                              claim.test, paper_numbers, holds, ours_numbers, verdict, needs),
                    strict=True))


def check_claims(results: Results | str | Path = "runs",
                 claims: list[Claim] | None = None) -> pd.DataFrame:
    """One row per claim: ``id, kind, paper, where, claim, test, paper_numbers, paper_holds
    ("yes"/"marginal"/"no"/"n/a"), ours_numbers, verdict ("supported"/"contradicted"/
    "inconclusive"/"not run"; "not checkable here" for cited results), needs``."""
    if not isinstance(results, Results):
        results = load_results(results)
    paper, ours = PaperSource(), OursSource(results)
    rows = [_row(c, paper, ours) for c in (CLAIMS if claims is None else claims)]
    return pd.DataFrame(rows, columns=COLUMNS)


#: the columns shown in reports (``claims.md``, notebook 05, the index), with their headers
SHOWN = {"id": "id", "kind": "kind", "claim": "claim", "where": "where", "test": "test",
         "paper_numbers": "paper numbers", "paper_holds": "paper holds",
         "ours_numbers": "our numbers (difference [95% interval])", "verdict": "verdict",
         "needs": "seeds to decide"}
INTRO = ("Each claim of the papers, checked on the paper's own numbers (`paper holds`: yes / "
         f"no, or marginal when an accuracy margin is below {MARGINAL_PT:.2f} pt, what 3 seeds "
         f"per side decide at a typical seed sd of {TYPICAL_SEED_SD_PT:g} pt) and on our "
         "per-seed results (`verdict`: supported / contradicted when the 95% Welch interval of "
         "each difference decides, inconclusive when not; equivalence by TOST). Ours: test "
         "accuracy of the final models, OPs = real MACs + binary MACs / 64 on our input size. "
         f"\"About X%\" = X ± {ABOUT_PT:g} pt, \"matches\" = within ±{MATCH_PT:g} pt. Sanity "
         "checks and claims on cited results are listed, not counted.")


def display_claims(frame: pd.DataFrame) -> pd.DataFrame:
    """``check_claims``'s frame as shown: the ``SHOWN`` columns and headers, "-" for empty."""
    shown = frame[list(SHOWN)].astype(str).replace("", "-")
    return shown.rename(columns=SHOWN).reset_index(drop=True)


def tally(frame: pd.DataFrame) -> pd.DataFrame:
    """The claims (kind "claim" only) counted by our verdict (rows: supported, contradicted,
    inconclusive, not run, total) and by whether the paper's own numbers hold (columns: yes,
    marginal, no, n/a, total)."""
    claims = frame[frame["kind"] == CLAIM]
    table = pd.crosstab(pd.Categorical(claims["verdict"], VERDICTS),
                        pd.Categorical(claims["paper_holds"], HOLDS), dropna=False)
    table = table.reindex(index=list(VERDICTS), columns=list(HOLDS), fill_value=0)
    table["total"] = table.sum(axis=1)
    table.loc["total"] = table.sum(axis=0)
    table.index.name, table.columns.name = "our verdict", "paper holds"
    return table


def summary(frame: pd.DataFrame) -> str:
    """One line: "3 supported, 1 contradicted, 20 inconclusive, 0 not run (of 24 claims;
    8 sanity checks apart, 0 failed; 4 claims on cited results not checkable here)"."""
    kinds = frame["kind"]
    counts = frame.loc[kinds == CLAIM, "verdict"].value_counts()
    sanity = frame.loc[kinds == SANITY, "verdict"]
    head = ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS)
    return (f"{head} (of {int((kinds == CLAIM).sum())} claims; {len(sanity)} sanity checks "
            f"apart, {int((sanity == CONTRADICTED).sum())} failed; "
            f"{int((kinds == CITED).sum())} claims on cited results not checkable here)")


def claims_markdown(frame: pd.DataFrame) -> str:
    shown = display_claims(frame)
    head = ["# Claims check", "", INTRO, "", f"Summary: {summary(frame)}.", "",
            "| " + " | ".join(shown.columns) + " |", "|" + "|".join("---" for _ in shown.columns) + "|"]
    body = ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |"
            for row in shown.itertuples(index=False)]
    return "\n".join(head + body) + "\n"


def write_claims(runs_dir: Results | str | Path = "runs",
                 out_dir: str | Path = "reports") -> list[Path]:
    """Write ``claims.md`` and ``claims.csv`` into ``out_dir``; returns the paths."""
    frame = check_claims(runs_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    md, csv = out / "claims.md", out / "claims.csv"
    md.write_text(claims_markdown(frame))
    frame.to_csv(csv, index=False)
    return [md, csv]

"""Tests of bnnlib.claims: statistical verdicts on constructed per-seed runs directories."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from bnnlib import claims as C
from bnnlib import stats
from bnnlib import tables as T

# --------------------------------------------------------------------------------------------
# A constructed runs/ directory: per variant, test top-1 per seed (percent), OPs, genome.

SPREAD = (-0.1, 0.0, 0.1)  # three seeds, sd 0.1 pt: clearly separated when means differ by 1+
M1_SEARCHED = [1, 1, 1, 1, 2, 2, 4, 4, 4, 8, 8, 16, 16]


def seeds(mean: float, spread=SPREAD) -> list[float]:
    return [mean + d for d in spread]


# (family, variant) -> (stage, top-1 per seed, OPs (a number, or one per seed), genome)
GROUPS = {
    ("mobilenet_m1", "fp"): ("uniform", seeds(93.0), 5.0e7, None),
    ("mobilenet_m1", "groups1"): ("uniform", seeds(90.0), 2.0e7, [1] * 13),
    ("mobilenet_m1", "groups4"): ("uniform", seeds(88.0), 1.6e7, [4] * 13),
    ("mobilenet_m1", "groups16"): ("uniform", seeds(86.0), 1.5e7, [16] * 13),
    ("mobilenet_m1", "searched"): ("retrain", seeds(89.0), 1.54e7, M1_SEARCHED),
    ("mobilenet_m1", "random"): ("retrain", seeds(87.0), [1.50e7, 1.51e7, 1.50e7], [4] * 13),
    ("mobilenet_m1", "random_search"): ("retrain", seeds(88.0), 1.53e7, [2] * 13),
    # M2: searched clearly *less* accurate than random (contradicted)
    ("mobilenet_m2", "groups4"): ("uniform", seeds(85.0), 0.7e7, [4] * 18),
    ("mobilenet_m2", "groups16"): ("uniform", seeds(80.0), 0.3e7, [16] * 18),
    ("mobilenet_m2", "searched"): ("retrain", seeds(83.0), 0.62e7, [16] * 13 + [1] * 5),
    ("mobilenet_m2", "random"): ("retrain", seeds(84.0), [0.75e7, 0.74e7, 0.76e7], [4] * 18),
    # M3: searched and random overlap (inconclusive); M3 searched exceeds its budget
    ("mobilenet_m3", "groups1"): ("uniform", seeds(88.0), 0.87e7, [1] * 13),
    ("mobilenet_m3", "groups4"): ("uniform", seeds(84.0), 0.37e7, [4] * 13),
    ("mobilenet_m3", "groups16"): ("uniform", seeds(81.0), 0.24e7, [16] * 13),
    ("mobilenet_m3", "searched"): ("retrain", [84.0, 85.5, 83.1], 0.33e7, [2] * 13),
    ("mobilenet_m3", "random"): ("retrain", [84.3, 83.2, 85.0], [0.28e7, 0.29e7, 0.27e7], [4] * 13),
}
BUDGETS = {"mobilenet_m1": 1.55e7, "mobilenet_m2": 0.8e7, "mobilenet_m3": 0.3e7}
R18_AUTO_A = [2.0, 4.0, 4.0, 2.0, 4.0, 4.0, 3.0, 4.0, 4.0, 1.0, 4.0, 4.0]
WIDTHS = {
    ("vgg_small", "fp"): ("uniform", seeds(93.0), 60.8e6, None),
    ("vgg_small", "uniform1x"): ("uniform", seeds(90.0), 1.32e6, [1.0] * 6),
    ("vgg_small", "uniform2x"): ("uniform", seeds(91.0), 4.53e6, [2.0] * 6),
    ("vgg_small", "uniform3x"): ("uniform", seeds(91.5), 9.62e6, [3.0] * 6),
    ("vgg_small", "uniform4x"): ("uniform", seeds(92.5), 16.6e6, [4.0] * 6),
    ("vgg_small", "auto_a"): ("retrain", seeds(92.0), 1.13e6, [1.0, 0.5, 1.0, 0.5, 2.0, 0.25]),
    # Auto-B: more accurate than Uniform-4x, but at 0.6 of its OPs (not "about 1/4")
    ("vgg_small", "auto_b"): ("retrain", seeds(93.5), 9.96e6, [2.0, 1.0, 3.0, 2.0, 2.0, 1.0]),
    ("resnet18", "fp"): ("uniform", seeds(92.0), 182e6, None),
    ("resnet18", "uniform1x"): ("uniform", seeds(88.0), 14.9e6, [1.0] * 12),
    ("resnet18", "uniform2x"): ("uniform", seeds(90.0), 35.2e6, [2.0] * 12),
    ("resnet18", "uniform3x"): ("uniform", seeds(90.5), 60.7e6, [3.0] * 12),
    ("resnet18", "uniform4x"): ("uniform", seeds(91.5), 91.5e6, [4.0] * 12),
    # single seed: every comparison with Auto-A is inconclusive
    ("resnet18", "auto_a"): ("retrain", [90.6], 49.5e6, R18_AUTO_A),
    ("resnet18", "auto_b"): ("retrain", seeds(91.2), 66.0e6, [3.0] * 12),
}
# (family, variant) left out: the claims on them are "not run"
MISSING = {("mobilenet_m2", "random_search"), ("mobilenet_m3", "random_search"),
           ("vgg_small", "random_a")}


def write_json(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))


def write_model(root: Path, family: str, variant: str, stage: str, top1: list[float], ops,
                genome) -> None:
    for k, acc in enumerate(top1):
        value = ops[k] if isinstance(ops, list) else ops
        write_json(root / stage / family / variant / f"seed{k}" / "result.json", {
            "family": family, "variant": variant, "genome": genome, "seed": k,
            "test_top1": acc / 100, "test_top5": min(acc + 5, 99.9) / 100, "ops": value,
            "memory_bits": value * 3.0, "history": []})


def make_study(root: Path) -> Path:
    for (family, variant), (stage, top1, ops, genome) in {**GROUPS, **WIDTHS}.items():
        write_model(root, family, variant, stage, top1, ops, genome)
    for family in ("vgg_small", "resnet18"):  # random baselines just below Auto-A/B
        for x in ("a", "b"):
            _, top1, ops, genome = WIDTHS[family, f"auto_{x}"]
            for variant, drop in ((f"random_{x}", 1.5), (f"random_search_{x}", 1.0)):
                if (family, variant) not in MISSING:
                    write_model(root, family, variant, "retrain", seeds(top1[0] - drop),
                                [ops * f for f in (0.98, 1.0, 1.02)], genome)
    for family, budget in BUDGETS.items():
        write_json(root / "search" / family / "evolution" / "seed0" / "result.json", {
            "family": family, "method": "evolution", "best": GROUPS[family, "searched"][3],
            "best_ops": GROUPS[family, "searched"][2], "max_ops": budget})
    return root


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> T.Results:
    return T.load_results(make_study(tmp_path_factory.mktemp("claims") / "runs"))


@pytest.fixture(scope="module")
def frame(study) -> pd.DataFrame:
    return C.check_claims(study).set_index("id")


# --------------------------------------------------------------------------------------------
# Verdicts


def test_separated_samples_support_a_claim(frame):
    row = frame.loc["phan-groups-order-M1"]
    assert row["verdict"] == C.SUPPORTED
    assert row["ours_numbers"].startswith(
        "Groups = 1 > Groups = 4 (top-1): +2.00 [1.77, 2.23] (n = 3 vs 3): supported; ")
    assert frame.loc["shen-vgg-uniform-increasing", "verdict"] == C.SUPPORTED
    assert frame.loc["phan-searched-vs-random-search-M1", "needs"] == ""
    # "about 2%": 89 - 87 = 2.00, its 90% interval inside (1, 3)
    assert "(top-1): +2.00 [1.83, 2.17] 90% (n = 3 vs 3): supported" in \
        frame.loc["phan-fig5-M1", "ours_numbers"]
    assert frame.loc["phan-fig5-M1", "verdict"] == C.SUPPORTED


def test_separated_samples_the_wrong_way_contradict(frame):
    row = frame.loc["phan-searched-vs-random-M2"]
    assert row["verdict"] == C.CONTRADICTED
    assert "Ours > Random Group (top-1): -1.00 [-1.23, -0.77] (n = 3 vs 3): contradicted" \
        in row["ours_numbers"]
    assert frame.loc["phan-fig5-M2", "verdict"] == C.CONTRADICTED  # -1 is not about +2
    # more accurate, but more OPs than the random draws (which vary by seed)
    row = frame.loc["phan-searched-vs-random-M1"]
    assert row["verdict"] == C.CONTRADICTED
    assert "Ours < Random Group (OPs): +0.367 [" in row["ours_numbers"]


def test_overlapping_samples_are_inconclusive_with_the_seeds_needed(study):
    claim = C.Claim("x", C.PHAN, "", "", "", (C.higher("mobilenet_m3", "searched", "random"),))
    row = C.check_claims(study, [claim]).iloc[0]
    assert row["verdict"] == C.INCONCLUSIVE
    assert row["ours_numbers"].startswith("Ours > Random Group (top-1): +0.03 [")
    # the paper's margin 51.06 - 50.07 = 0.99 at our pooled sd (about 0.9 pt)
    assert "paper's margin 0.99" in row["needs"]
    n = int(row["needs"].split()[0])
    sd = float(row["needs"].rsplit("sd ", 1)[1].rstrip(")"))
    assert stats.decidable_difference(sd, n) < 0.99 <= stats.decidable_difference(sd, n - 1)


def test_figure5_claims_read_figure5_runs_where_they_exist(tmp_path):
    """M2's final models contradict "about 2%" (-1 pt); its Figure 5 runs, trained apart, are
    2 pt apart: the Fig. 5 claim reads those and says so, the other claims keep the finals."""
    root = make_study(tmp_path / "runs")
    write_model(root, "mobilenet_m2", "fig5_searched", "retrain", seeds(80.0), 0.62e7, [16] * 13 + [1] * 5)
    write_model(root, "mobilenet_m2", "fig5_random", "retrain", seeds(78.0), 0.75e7, [4] * 18)
    frame = C.check_claims(T.load_results(root)).set_index("id")
    row = frame.loc["phan-fig5-M2"]
    assert row["verdict"] == C.SUPPORTED
    assert "[ours: fig5_searched vs fig5_random]: +2.00 [" in row["ours_numbers"]
    assert frame.loc["phan-searched-vs-random-M2", "verdict"] == C.CONTRADICTED  # the finals
    assert "[ours:" not in frame.loc["phan-fig5-M1", "ours_numbers"]


def test_single_seed_is_inconclusive(frame):
    row = frame.loc["shen-r18-autoa-vs-3x"]
    assert row["verdict"] == C.INCONCLUSIVE
    assert "[no interval] (n = 1 vs 3): inconclusive" in row["ours_numbers"]
    # no spread yet: the typical seed sd is assumed; the paper's margin is 1 - 0.13 = 0.87
    assert row["needs"].startswith("3 seeds per side") and "sd 0.3 assumed" in row["needs"]


def test_missing_numbers_are_not_run(frame, tmp_path):
    assert frame.loc["phan-searched-vs-random-search-M2", "verdict"] == C.NOT_RUN
    assert frame.loc["shen-vgg-autoa-vs-random", "verdict"] == C.NOT_RUN
    assert "Random-A not run" in frame.loc["shen-vgg-autoa-vs-random", "ours_numbers"]
    empty = C.check_claims(tmp_path / "absent")
    assert (empty.loc[empty["kind"] != C.CITED, "verdict"] == C.NOT_RUN).all()
    assert (C.tally(empty).loc[C.NOT_RUN, "total"] == (empty["kind"] == C.CLAIM).sum())


def test_zero_spread_ops_are_exact(frame):
    # Auto-A 1.13M < Uniform-1x 1.32M OPs: both constant over seeds, so decided exactly
    text = frame.loc["shen-vgg-autoa-vs-1x", "ours_numbers"]
    assert "Auto-A < Uniform-1x (OPs): -0.190 [-0.190, -0.190] (n = 3 vs 3): supported" in text


# --------------------------------------------------------------------------------------------
# Several parts


def test_combine_parts():
    yes, no, open_, none = C.SUPPORTED, C.CONTRADICTED, C.INCONCLUSIVE, C.NOT_RUN
    assert C.combine([yes, yes, yes]) == yes
    assert C.combine([yes, no, open_]) == no and C.combine([none, no]) == no
    assert C.combine([yes, open_]) == open_
    assert C.combine([yes, none, open_]) == none


def test_multi_part_claim_shows_every_part(frame):
    row = frame.loc["shen-vgg-autob-vs-4x"]  # accuracy supported, OPs at 0.6 of 4x: contradicted
    assert row["verdict"] == C.CONTRADICTED
    parts = row["ours_numbers"].split("; ")
    assert len(parts) == 3
    assert parts[0].startswith("Auto-B > Uniform-4x (top-1): +1.00") and parts[0].endswith("supported")
    assert "Auto-B < 0.4 x Uniform-4x (OPs)" in parts[1] and "contradicted" in parts[1]
    assert "ratio 0.6" in parts[1]
    # every OPs part supported, one accuracy part inconclusive: the claim is inconclusive
    row = frame.loc["phan-modules-tradeoff"]
    assert row["verdict"] == C.INCONCLUSIVE
    assert [p.rsplit(": ", 1)[1].split(",")[0] for p in row["ours_numbers"].split("; ")] == \
        [C.SUPPORTED, C.SUPPORTED, C.SUPPORTED, C.INCONCLUSIVE]
    assert row["needs"].startswith("2 seeds per side (M2 Ours > M3 Ours (top-1)")


# --------------------------------------------------------------------------------------------
# Sanity checks, cited results, genome rules


def test_sanity_checks_are_apart_from_the_tally(frame, study):
    assert frame.loc["phan-budget-M1", "kind"] == C.SANITY
    assert frame.loc["phan-budget-M1", "verdict"] == C.SUPPORTED
    assert frame.loc["phan-budget-M3", "verdict"] == C.CONTRADICTED  # 0.33e7 > 0.3e7
    assert frame.loc["shen-r18-random-at-auto-ops", "verdict"] == C.SUPPORTED
    full = C.check_claims(study)
    tally = C.tally(full)
    claims = full[full["kind"] == C.CLAIM]
    assert tally.loc["total", "total"] == len(claims)
    for verdict in C.VERDICTS:
        assert tally.loc[verdict, "total"] == (claims["verdict"] == verdict).sum()
    assert tally.loc["total", "marginal"] == (claims["paper_holds"] == "marginal").sum()
    line = C.summary(full)
    assert line.startswith(f"{tally.loc[C.SUPPORTED, 'total']} supported, ")
    sanity = (full["kind"] == C.SANITY).sum()
    assert f"of {len(claims)} claims; {sanity} sanity checks apart, 1 failed" in line


def test_cited_claims_are_checked_on_the_paper_only(frame):
    cited = frame[frame["kind"] == C.CITED]
    assert set(cited.index) >= {"phan-m1-vs-ci-bcnn", "phan-m1-vs-mobinet-bireal",
                                "phan-m2-m3-vs-bireal-cibcnn", "shen-r18-vs-abc-net"}
    assert (cited["verdict"] == C.NOT_CHECKABLE).all()
    # CI-BCNN's FLOPs are printed as a bound, "> 1.54x10^8": ours 1.54 counts as fewer
    assert cited.loc["phan-m1-vs-ci-bcnn", "paper_holds"] == "yes"
    # M1 has more FLOPs than MoBiNet (1.54 vs 0.52); M3 is below Bi-Real Net
    assert cited.loc["phan-m1-vs-mobinet-bireal", "paper_holds"] == "no"
    assert cited.loc["phan-m2-m3-vs-bireal-cibcnn", "paper_holds"] == "no"


def test_genome_rules(frame):
    row = frame.loc["phan-first-layers-M1"]  # groups 1,1,1,1 first vs 8,8,16,16 last
    assert row["verdict"] == C.SUPPORTED
    assert "0.00 (blocks 1-4) vs 3.50 (10-13)" in row["ours_numbers"]
    assert "for reference, Random Group: 0 of 1 hold" in row["ours_numbers"]
    assert frame.loc["phan-first-layers-M2", "verdict"] == C.CONTRADICTED  # 16 everywhere
    # Auto-A: stage outputs 2/2/1 below 3, inner ratios' mean 3.88 above 3
    assert frame.loc["shen-r18-fig2-layout", "verdict"] == C.SUPPORTED
    assert C.few_groups_first([1] * 4 + [4] * 5 + [16] * 4)[0]
    assert not C.few_groups_first([2] * 13)[0]
    assert not C.fewer_stage_outputs([3.0] * 12)[0] and not C.more_inner([3.0] * 12)[0]


# --------------------------------------------------------------------------------------------
# The paper side


def test_paper_side_marginal_yes_no():
    paper = C.check_claims(T.load_results("/nonexistent-runs")).set_index("id")["paper_holds"]
    # Phan et al. M1: Ours 60.90 vs Groups = 4 60.89, a 0.01 pt margin
    m1 = C.Claim("m1-vs-g4", C.PHAN, "", "", "", (C.higher("mobilenet_m1", "searched", "groups4"),))
    assert C.check_claims("/nonexistent-runs", [m1]).iloc[0]["paper_holds"] == "marginal"
    assert paper["shen-vgg-autob-vs-4x"] == "marginal"  # 93.06 vs 92.56
    assert paper["phan-searched-vs-random-M1"] == "yes"  # 60.90 vs 59.05, fewer FLOPs
    assert paper["phan-searched-vs-uniform-M1"] == "no"  # 1.54 > 1.50 x1e8 FLOPs of g = 16
    assert paper["shen-r18-autob-matches-fp"] == "no"  # 660 / 1820 = 0.36, not < 1/3
    assert paper["phan-searched-vs-random-search-M1"] == "n/a"  # a baseline of ours
    assert C.MARGINAL_PT == pytest.approx(0.68, abs=0.01)


# --------------------------------------------------------------------------------------------
# The claim list and its report


def test_claim_ids_unique_and_kinds_known():
    ids = [c.id for c in C.CLAIMS]
    assert len(ids) == len(set(ids))
    assert {c.kind for c in C.CLAIMS} == {C.CLAIM, C.SANITY, C.CITED}


def test_markdown_lists_every_claim(study, tmp_path):
    md, csv = C.write_claims(study, tmp_path)
    text = md.read_text()
    assert all(f"| {c.id} |" in text for c in C.CLAIMS)
    assert C.summary(C.check_claims(study)) in text
    assert len(pd.read_csv(csv)) == len(C.CLAIMS)
    shown = C.display_claims(C.check_claims(study))
    assert list(shown.columns) == list(C.SHOWN.values()) and "-" in set(shown["seeds to decide"])

"""bnnlib.cost: stage workloads counted from a profile, rates, projected hours, the CLI.

Fast: no data is loaded and nothing is trained (OPs are counted on the meta device). The
expected numbers are worked out by hand from ``profiles/cpu.yaml``: seeds [0, 1, 2], search
seeds [0], val_size 5000, train_subset 5000, val_subset 1000, the whole 10,000-image test
split; epochs 2 / 4 / 2; search population 12, 6 + 6 children, 4 iterations, calib 500, val
1000; proxy 16 genomes (groups: 1 epoch on 2000 images; widths: 2 epochs on 4000), 2000 test
images.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import pytest

from bnnlib import cost, flops, models, paper_values, settings

ROOT = Path(__file__).resolve().parents[1]
CPU = ROOT / "profiles" / "cpu.yaml"
FAMILIES = ("mobilenet_m1", "mobilenet_m2", "mobilenet_m3", "vgg_small", "resnet18")


@pytest.fixture(scope="module")
def cpu():
    return settings.load(CPU)


@pytest.fixture(scope="module")
def works(cpu):
    return {f: cost.workload(cpu, f) for f in FAMILIES}


def by_stage(works, stage):
    return [w for w in works if w.stage == stage]


def total(works, stage, field):
    return sum(getattr(w, field) for w in by_stage(works, stage))


def flat_rates(img_s=10_000.0, **extra):
    """One constant training rate for every family of the cpu profile."""
    entry = {"train": [{"ops": 1e6, "img_s": img_s}], **extra}
    return {"device": "Test GPU",
            "profiles": {"cpu": {f: copy.deepcopy(entry) for f in FAMILIES}}}


# ---- counting -------------------------------------------------------------------------------

def test_splits_follow_the_profile(cpu):
    sp = cost.splits(cpu, "vgg_small")
    assert (sp.train, sp.val, sp.test, sp.test_full) == (5000, 1000, 10_000, 10_000)
    paper = settings.load(ROOT / "profiles" / "paper.yaml")
    # ImageNet: 1,281,167 training images less val_size 5000; CIFAR-10: 50,000 less 5000
    assert cost.splits(paper, "resnet18").train == 1_281_167 - 5000
    assert cost.splits(paper, "vgg_small").train == 45_000
    assert cost.splits(paper, "mobilenet_m1").test == 50_000
    # Shen et al.'s search subset: 50 images per ImageNet class for the supernet and the search
    assert cost.splits(paper, "resnet18").search_train == 50 * 1000
    assert cost.splits(paper, "vgg_small").search_train == 45_000  # CIFAR-10: the whole split


def test_the_search_subset_sets_supernet_and_fine_tuning_images():
    paper = settings.load(ROOT / "profiles" / "paper.yaml")
    w = cost.workload(paper, "resnet18")
    (sn,) = by_stage(w, "supernet")
    assert sn.images_trained == paper.widths.families["resnet18"].epochs.supernet * 50_000
    search = by_stage(w, "search")
    n = sum(s.candidates for s in search)
    assert total(w, "search", "images_trained") == n * paper.widths.search.finetune_epochs * 50_000
    # the final models still train on the whole split
    (fp,) = [u for u in by_stage(w, "uniform") if u.what == "fp"]
    assert fp.train_images == 1_281_167 - 5000


def test_impossible_subset_is_refused(cpu):
    bad = settings.load(CPU, {"data.train_subset": 55_001})
    with pytest.raises(ValueError, match=r"data.train_subset = 55001 exceeds the 55000"):
        cost.splits(bad, "vgg_small")


def test_uniform_models_are_variants_times_seeds(works):
    # M1: groups 1/4/16 + fp; M2: groups 4/16 (groups 1 is M1's network); M3: 1/4/16;
    # widths: fp + uniform 1x..4x; three training seeds each
    expected = {"mobilenet_m1": 12, "mobilenet_m2": 6, "mobilenet_m3": 9,
                "vgg_small": 15, "resnet18": 15}
    assert {f: total(w, "uniform", "models") for f, w in works.items()} == expected


def test_uniform_images_by_hand(works):
    m1 = by_stage(works["mobilenet_m1"], "uniform")
    # 4 variants x 3 seeds x 2 epochs x 5000 images
    assert sum(w.images_trained for w in m1) == 4 * 3 * 2 * 5000 == 120_000
    # per model: 1000 monitor test images per epoch + the whole test split at the end
    assert all(w.images_evaluated == 3 * (2 * 1000 + 10_000) for w in m1)


def test_uniform_ops_are_the_counter_of_the_stage_model(works):
    rows = {w.what: w for w in by_stage(works["vgg_small"], "uniform")}
    # Fashion-MNIST: 1 channel, 28x28, 10 classes; widths width_mult 0.0625
    model = models.build("vgg_small", num_classes=10, in_channels=1, width_mult=0.0625,
                         expansion=1.0)
    assert rows["uniform1x"].ops_per_image == pytest.approx(flops.count(model, (1, 28, 28)).ops)
    # the real-valued row is timed as its binary twin (uniform 1x)
    assert rows["fp"].ops_per_image > 10 * rows["fp"].timed_ops
    assert rows["fp"].timed_ops == rows["uniform1x"].ops_per_image
    assert rows["fp"].estimate == "binary twin"


def test_supernet_images(works):
    for w in works.values():
        (net,) = by_stage(w, "supernet")
        assert (net.models, net.images_trained, net.images_evaluated) == (1, 4 * 5000, 4 * 1000)
        assert net.kind == "supernet"


def test_search_evaluations_formula(works):
    e = 12 + (4 - 1) * (6 + 6)  # population + (iterations - 1) x (crossovers + mutations)
    assert e == 48 == cost.evaluations_per_search(settings.load(CPU).groups.search)
    groups = by_stage(works["mobilenet_m1"], "search")
    # evolution, and the random search whose first 12 draws are the cached initial population
    assert [w.candidates for w in groups] == [48, 48 - 12]
    assert all(w.images_evaluated == w.candidates * (500 + 1000) for w in groups)
    widths = by_stage(works["vgg_small"], "search")
    # evolution_a, evolution_b (population shared), random_a (first 12 shared), random_b (all)
    assert [w.candidates for w in widths] == [48, 36, 36, 0]
    assert all(w.kind == "one-shot" and w.images_trained == 0 for w in widths)


def test_search_seeds_multiply_searches_and_retrained_models(cpu):
    three = settings.load(CPU, {"search_seeds": [0, 1, 2]})
    w = cost.workload(three, "mobilenet_m3")
    assert total(w, "search", "candidates") == 3 * (48 + 36)
    # searched, searched_s1 and _s2, random_search: 3 seeds each; random: one draw per seed
    assert total(w, "retrain", "models") == (1 + 2 + 1 + 1) * 3 == 15
    assert total(cost.workload(cpu, "mobilenet_m3"), "retrain", "models") == 9


def test_figure5_runs_are_counted_at_their_own_epochs(cpu):
    fig5 = settings.load(CPU, {"groups.epochs.fig5": 5})
    w = by_stage(cost.workload(fig5, "mobilenet_m3"), "retrain")
    own = [r for r in w if "Figure 5" in r.what]
    assert [(r.models, r.epochs) for r in own] == [(3, 5), (3, 5)]  # searched + random, 3 seeds
    assert sum(r.models for r in w) == 9 + 6
    same = settings.load(CPU, {"groups.epochs.fig5": 2})  # = retrain epochs: the same runs
    assert total(cost.workload(same, "mobilenet_m3"), "retrain", "models") == 9


def test_finetuned_candidates_train_on_the_training_split():
    ft = settings.load(CPU, {"widths.search.finetune_epochs": 3})
    w = cost.workload(ft, "vgg_small")
    search = by_stage(w, "search")
    assert all(s.kind == "finetune" for s in search)
    assert total(w, "search", "images_trained") == (48 + 36 + 36) * 3 * 5000
    # scored on val_images only (no BN recalibration after fine-tuning)
    assert total(w, "search", "images_evaluated") == (48 + 36 + 36) * 1000
    (scores,) = [p for p in by_stage(w, "proxy") if p.candidates]
    assert scores.kind == "finetune" and scores.images_trained == 16 * 3 * 5000


def test_proxy_and_retrain_by_hand(works):
    for family, w in works.items():
        proxy = by_stage(w, "proxy")
        widths = family in ("vgg_small", "resnet18")
        epochs, images = (2, 4000) if widths else (1, 2000)
        assert total(w, "proxy", "models") == 16 and total(w, "proxy", "candidates") == 16
        assert total(w, "proxy", "images_trained") == 16 * epochs * images
        trained = next(p for p in proxy if p.models)
        assert trained.images_evaluated == 16 * (epochs * 1000 + 2000)
        retrain = by_stage(w, "retrain")
        # groups: searched, random_search, random; widths: the same for _a and _b
        assert total(w, "retrain", "models") == (18 if widths else 9)
        assert total(w, "retrain", "images_trained") == (18 if widths else 9) * 2 * 5000
        assert all(r.images_evaluated == r.models * (2 * 1000 + 10_000) for r in retrain)


def test_checkpoints_kept_are_the_models_weights(cpu, works):
    """Each model trained keeps its final last.pt (its weights and buffers), a supernet too
    (its supernet.pt records no second copy); candidates nothing. A run state while training adds the
    optimizer's moments (Adam: two)."""
    from bnnlib import supernet
    from bnnlib.stages.common import model_kwargs

    rows = {w.what: w for w in by_stage(works["vgg_small"], "uniform")}
    model = models.build("vgg_small", num_classes=10, in_channels=1, width_mult=0.0625,
                         expansion=4.0)
    weights = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    assert rows["uniform4x"].checkpoint_bytes == 3 * weights  # three training seeds
    assert rows["uniform4x"].state_bytes == 3 * weights  # weights + Adam's two moments
    (net_work,) = by_stage(works["vgg_small"], "supernet")
    net = supernet.build("vgg_small", **model_kwargs(cost.stage_view(cpu, "supernet", "vgg_small")))
    assert net_work.checkpoint_bytes == supernet.state_bytes(net) > weights * 0.99
    for family, w in works.items():
        assert all(x.checkpoint_bytes == 0 for x in w if x.candidates), family
        assert total(w, "search", "checkpoint_bytes") == 0
        ops = cost.family_ops(cpu, family)
        retrain = by_stage(w, "retrain")  # searched genomes: the mean of random genomes' sizes
        assert total(w, "retrain", "checkpoint_bytes") == pytest.approx(
            total(w, "retrain", "models") * ops.random_bytes, abs=len(retrain))
    m1 = cost.family_ops(cpu, "mobilenet_m1").uniform_bytes
    assert m1["groups16"] < m1["groups4"] < m1["groups1"]  # groups divide pointwise weights
    sgd = settings.load(CPU, {"widths.families.vgg_small.train.optimizer": "sgd"})
    (row,) = [w for w in cost.workload(sgd, "vgg_small") if w.what == "uniform4x"]
    assert row.state_bytes == 2 * weights  # SGD: one momentum buffer


def test_disk_needs_stage_by_stage():
    """Finished stages are on disk twice (runs/ and DVC's cache), the running one once, plus
    its trainings in flight: jobs x 3 run states of its largest model (one supernet)."""
    two = dataclasses.replace(settings.load(CPU), jobs=2)

    def work(family, stage, kind, kept, state, models=1):
        return cost.Work(family=family, stage=stage, what="x", models=models, kind=kind,
                         ops_per_image=1.0, timed_ops=1.0, eval_ops=1.0,
                         checkpoint_bytes=int(kept * 1e9), state_bytes=int(state * 1e9))

    works = {f: [] for f in FAMILIES}
    works["resnet18"] = [work("resnet18", "retrain", "static", 1, 0.5)]  # runs after...
    works["vgg_small"] = [work("vgg_small", "supernet", "supernet", 4, 6)]  # ...this one
    works["mobilenet_m1"] = [work("mobilenet_m1", "uniform", "static", 2, 3, models=2),
                             work("mobilenet_m1", "search", "one-shot", 0, 0, models=0)]
    disk = cost.disk_needs(two, works)
    # uniform m1: 0 + 2 + 3*3*2 = 20; supernet vgg: 2*2 + 4 + 3*6 = 26; retrain: 2*6 + 1 + 3*0.5*2
    assert disk == pytest.approx({"kept": 7, "with_cache": 14, "in_flight": 18, "peak": 26})
    assert cost.DVC_ORDER == ("uniform", "supernet", "search", "retrain", "proxy")
    works["vgg_small"] = []
    assert cost.disk_needs(two, works)["peak"] == pytest.approx(20)


def test_groups_retrain_is_timed_at_the_budget():
    p = settings.load(CPU, {"groups.families.mobilenet_m3.max_ops": 200_000.0})
    retrain = by_stage(cost.workload(p, "mobilenet_m3"), "retrain")
    assert {r.ops_per_image for r in retrain} == {200_000.0}
    assert {r.estimate for r in retrain} == {"budget"}


def test_unknown_family_of_the_profile(cpu):
    only = settings.load(CPU, {"widths.families": {"vgg_small": {}}})
    with pytest.raises(ValueError, match="resnet18.*it has: .*vgg_small"):
        cost.workload(only, "resnet18")


# ---- rates --------------------------------------------------------------------------------------

def test_interpolation_is_exact_at_the_points():
    points = ((1e6, 1 / 9000), (3e6, 1 / 3000), (7e6, 1 / 1000))
    for o, s in points:
        assert cost.seconds_per_image(points, o) == pytest.approx(s)
    # a + b * o between two points: halfway in OPs, halfway in seconds
    assert cost.seconds_per_image(points, 2e6) == pytest.approx((1 / 9000 + 1 / 3000) / 2)
    # beyond the last point: that segment's line, extended
    slope = (1 / 1000 - 1 / 3000) / 4e6
    assert cost.seconds_per_image(points, 9e6) == pytest.approx(1 / 1000 + 2e6 * slope)
    # below the first: its line extended...
    assert cost.seconds_per_image(points, 5e5) == pytest.approx(
        1 / 9000 - 5e5 * (1 / 3000 - 1 / 9000) / 2e6)
    # ...floored at proportional scaling of the first point where the line falls below it
    steep = ((1e6, 1 / 9000), (2e6, 1 / 3000))  # its line reaches 0 at 5e5 OPs
    assert cost.seconds_per_image(steep, 5e5) == pytest.approx(1 / 9000 / 2)
    # above the last: never faster than the largest point (a noisy, falling pair)
    falling = ((1e6, 1 / 1000), (2e6, 1 / 2000))
    assert cost.seconds_per_image(falling, 4e6) == pytest.approx(1 / 2000)


def test_one_point_is_constant():
    rates = cost.rates_from_dict(flat_rates(img_s=4000.0))
    fam = rates.profile("cpu")["vgg_small"]
    assert fam.train_s(1.0) == fam.train_s(1e9) == pytest.approx(1 / 4000)
    assert fam.eval_s(5.0) == pytest.approx(1 / 12_000)  # missing eval_img_s: 3x training
    assert fam.supernet_over_static == 1.0 and fam.candidate_s is None


@pytest.mark.parametrize("change, words", [
    (lambda r: r.update(profile="x"),
     ["rates.profile", "valid keys of rates: device, torch, source, profiles"]),
    (lambda r: r.pop("device"), ["lacks 'device'"]),
    (lambda r: r["profiles"]["cpu"]["vgg_small"].update(traing=[]),
     ["profiles.cpu.vgg_small.traing",
      "train, eval_img_s, supernet_over_static, candidate_s, candidate_images"]),
    (lambda r: r["profiles"]["cpu"].update(vgg={"train": [{"ops": 1, "img_s": 1}]}),
     ["profiles.cpu.vgg", "valid families: mobilenet_m1"]),
    (lambda r: r["profiles"]["cpu"]["resnet18"]["train"][0].update(img_s=-3),
     ["profiles.cpu.resnet18.train[0].img_s = -3", "> 0"]),
    (lambda r: r["profiles"]["cpu"]["resnet18"]["train"][0].update(flops=3),
     ["profiles.cpu.resnet18.train[0].flops", "ops, img_s"]),
    (lambda r: r["profiles"]["cpu"]["resnet18"].update(candidate_s="fast"),
     ["profiles.cpu.resnet18.candidate_s = 'fast' is not a number"]),
    (lambda r: r["profiles"]["cpu"]["resnet18"].update(candidate_images=1500),
     ["profiles.cpu.resnet18.candidate_images is given without candidate_s"]),
    (lambda r: r["profiles"]["cpu"]["resnet18"].update(jobs_speedup={"1": 1.0}),
     ["profiles.cpu.resnet18.jobs_speedup key '1' is not a jobs value: use integers >= 2"]),
    (lambda r: r["profiles"]["cpu"]["resnet18"].update(jobs_speedup={"3": 0}),
     ["profiles.cpu.resnet18.jobs_speedup.3 = 0 must be > 0"]),
])
def test_bad_rates_name_the_key(tmp_path, change, words):
    raw = flat_rates()
    change(raw)
    path = tmp_path / "rates.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(ValueError) as err:
        cost.load_rates(path)
    for word in words + [str(path)]:
        assert word in str(err.value)


def test_missing_profile_or_family_lists_what_exists(cpu):
    rates = cost.rates_from_dict(flat_rates(), "r.json")
    with pytest.raises(ValueError, match=r"no profile 'gpu'.*profiles in the file: cpu"):
        cost.project(cpu, rates, profile="gpu")
    raw = flat_rates()
    del raw["profiles"]["cpu"]["resnet18"], raw["profiles"]["cpu"]["vgg_small"]
    with pytest.raises(ValueError, match=r"lack families vgg_small, resnet18; families in the "
                                         r"file's profile: mobilenet_m1, mobilenet_m2, mobilenet_m3"):
        cost.project(cpu, cost.rates_from_dict(raw))


# ---- projection ---------------------------------------------------------------------------

def test_hours_by_hand(cpu):
    raw = flat_rates(img_s=10_000.0, supernet_over_static=2.0, candidate_s=0.5)
    del raw["profiles"]["cpu"]["mobilenet_m2"]["candidate_s"]
    raw["profiles"]["cpu"]["mobilenet_m2"]["eval_img_s"] = 50_000.0
    frame = cost.project(cpu, cost.rates_from_dict(raw))
    hours = frame.set_index(["family", "stage"])["hours"]
    # uniform M1: 120,000 images at 10,000/s + 144,000 forward at 30,000/s (3x)
    assert hours["mobilenet_m1", "uniform"] == pytest.approx((12 + 4.8) / 3600)
    # supernet: (20,000 / 10,000 + 4,000 / 30,000) x 2
    assert hours["mobilenet_m1", "supernet"] == pytest.approx((2 + 4000 / 30_000) * 2 / 3600)
    # search: 84 one-shot candidates at 0.5 s
    assert hours["mobilenet_m1", "search"] == pytest.approx(84 * 0.5 / 3600)
    # without candidate_s: (500 + 1000) images per candidate at 50,000/s, x supernet_over_static
    assert hours["mobilenet_m2", "search"] == pytest.approx(84 * 1500 / 50_000 * 2 / 3600)
    # candidate_s measured on 6000 images: scaled to this profile's 1500
    raw["profiles"]["cpu"]["mobilenet_m3"]["candidate_images"] = 6000
    scaled = cost.project(cpu, cost.rates_from_dict(raw)).set_index(["family", "stage"])["hours"]
    assert scaled["mobilenet_m3", "search"] == pytest.approx(84 * 0.5 * 1500 / 6000 / 3600)
    assert frame.attrs["device"] == "Test GPU"


def test_dense_scoring_is_projected_at_its_own_rate_where_measured(cpu):
    """A groups search with group_conv: dense is timed at candidate_s_dense (scaled by its own
    image count), at the grouped rate where dense was not measured; the widths searches and
    grouped profiles never read it."""
    dense = settings.load(CPU, {"groups.search.group_conv": "dense"})
    raw = flat_rates(candidate_s=0.5, candidate_s_dense=0.2, candidate_images_dense=6000)
    del raw["profiles"]["cpu"]["mobilenet_m2"]["candidate_s_dense"]
    del raw["profiles"]["cpu"]["mobilenet_m2"]["candidate_images_dense"]
    rates = cost.rates_from_dict(raw)
    hours = cost.project(dense, rates).set_index(["family", "stage"])["hours"]
    assert hours["mobilenet_m1", "search"] == pytest.approx(84 * 0.2 * 1500 / 6000 / 3600)
    assert hours["mobilenet_m2", "search"] == pytest.approx(84 * 0.5 / 3600)  # not measured
    grouped = cost.project(cpu, rates).set_index(["family", "stage"])["hours"]
    assert grouped["mobilenet_m1", "search"] == pytest.approx(84 * 0.5 / 3600)
    assert hours["vgg_small", "search"] == grouped["vgg_small", "search"]
    raw["profiles"]["cpu"]["mobilenet_m3"]["candidate_images_dense"] = 100
    del raw["profiles"]["cpu"]["mobilenet_m3"]["candidate_s_dense"]
    with pytest.raises(ValueError, match="mobilenet_m3.candidate_images_dense is given without "
                                         "candidate_s_dense"):
        cost.rates_from_dict(raw)


def test_jobs_divide_the_hours_of_models_trained_alone_by_their_measured_speedup(cpu, works):
    """jobs: 3 with a measured speedup of 2 halves uniform, retrain and the proxy's training;
    supernet, search and the proxy's one-shot scoring do not change; a family without a
    measurement for 3 jobs gains nothing, and the report says so."""
    raw = flat_rates(candidate_s=0.5, jobs_speedup={"2": 1.5, "3": 2.0})
    del raw["profiles"]["cpu"]["resnet18"]["jobs_speedup"]
    rates = cost.rates_from_dict(raw)
    vgg = rates.profile("cpu")["vgg_small"]
    assert (vgg.speedup(1), vgg.speedup(2), vgg.speedup(3), vgg.speedup(4)) == (1.0, 1.5, 2.0, 1.0)
    for work in works["vgg_small"]:  # in stages of 6 models: full rounds of 3
        gain = 2.0 if work.kind == "static" else 1.0
        assert cost.work_hours(work, vgg, 3, stage_models=6) == pytest.approx(
            cost.work_hours(work, vgg) / gain)
    assert {(w.stage, w.kind) for w in works["vgg_small"] if w.kind == "static"} == {
        ("uniform", "static"), ("retrain", "static"), ("proxy", "static")}
    three = cost.project(dataclasses.replace(cpu, jobs=3), rates)
    assert three.attrs["jobs"] == 3 and three.attrs["jobs_speedup"]["vgg_small"] == 2.0
    assert three.attrs["jobs_speedup"]["resnet18"] is None
    hours = three.set_index(["family", "stage"])["hours"]
    assert hours["vgg_small", "uniform"] == pytest.approx(
        sum(cost.work_hours(w, vgg) for w in works["vgg_small"] if w.stage == "uniform") / 2)
    line = cost._jobs_line(three.attrs)
    assert "jobs: 3 trainings at once" in line and "vgg_small 2.00x" in line
    assert "not measured for resnet18: no gain counted" in line
    assert cost._jobs_line({**three.attrs, "jobs": 1}) == ""  # jobs: 1 says nothing
    # DDP (devices > 1) runs the stages without jobs
    assert cost.jobs_of(dataclasses.replace(cpu, jobs=3, devices=2)) == 1


def test_a_stage_whose_models_jobs_does_not_divide_pays_its_last_round_in_full(cpu, works):
    """8 proxy models, 3 at once: 3 rounds of 3 trainings' time, 9/8 of a full overlap; the
    stage's models are counted together (its Work rows share one pool of processes)."""
    assert (cost.tail_factor(8, 3), cost.tail_factor(4, 3), cost.tail_factor(12, 3)) == (9 / 8, 1.5, 1.0)
    assert cost.tail_factor(5, 1) == 1.0 and cost.tail_factor(1, 3) == 3.0
    rates = cost.rates_from_dict(flat_rates(candidate_s=0.5, jobs_speedup={"3": 2.0}))
    vgg = rates.profile("cpu")["vgg_small"]
    (proxy,) = [w for w in works["vgg_small"] if w.stage == "proxy" and w.kind == "static"]
    assert cost.work_hours(proxy, vgg, 3) == pytest.approx(
        cost.work_hours(proxy, vgg) / 2.0 * cost.tail_factor(proxy.models, 3))
    hours = cost.project(dataclasses.replace(cpu, jobs=3), rates).set_index(["family", "stage"])["hours"]
    uniform = [w for w in works["vgg_small"] if w.stage == "uniform"]
    n = sum(w.models for w in uniform)
    assert hours["vgg_small", "uniform"] == pytest.approx(
        sum(cost.work_hours(w, vgg) for w in uniform) / 2.0 * cost.tail_factor(n, 3))
    # no measured speedup: the trainings run as with jobs 1, no tail either
    bare = cost.rates_from_dict(flat_rates()).profile("cpu")["vgg_small"]
    assert cost.work_hours(proxy, bare, 3) == pytest.approx(cost.work_hours(proxy, bare))


def test_warmup_adds_seconds_per_model_trained_and_per_supernet(cpu, works):
    """warmup_s: once per model trained from scratch, divided by the jobs speedup with the rest
    of its hours; supernet_warmup_s: once per supernet; candidates pay none. A family without
    them counts none, and the report names it."""
    raw = flat_rates(candidate_s=0.5, jobs_speedup={"3": 2.0}, warmup_s=10.0, fp_warmup_s=20.0,
                     supernet_warmup_s=30.0)
    del raw["profiles"]["cpu"]["resnet18"]["warmup_s"]
    rates = cost.rates_from_dict(raw)
    bare = cost.rates_from_dict(flat_rates(candidate_s=0.5, jobs_speedup={"3": 2.0}))
    vgg, vgg_bare = rates.profile("cpu")["vgg_small"], bare.profile("cpu")["vgg_small"]
    for work in works["vgg_small"]:
        extra = {"static": 10.0 * work.models, "supernet": 30.0 * work.models}.get(work.kind, 0.0)
        if work.estimate == "binary twin":  # the real-valued rows: their own warm-up
            extra = 20.0 * work.models
        for jobs, gain in ((1, 1.0), (3, 2.0)):
            gained = gain if work.kind == "static" else 1.0
            assert cost.work_hours(work, vgg, jobs, stage_models=6) == pytest.approx(
                cost.work_hours(work, vgg_bare, jobs, stage_models=6) + extra / gained / 3600)
    assert sum(w.models for w in works["vgg_small"] if w.kind == "static") > 0
    assert any(w.estimate == "binary twin" for w in works["vgg_small"])  # the fp row is there
    frame = cost.project(cpu, rates)
    assert frame.attrs["warmup_s"]["vgg_small"] == 10.0 and frame.attrs["warmup_s"]["resnet18"] is None
    line = cost._warmup_line(frame.attrs)
    assert "vgg_small 10.0 s" in line and "not measured for resnet18: none counted" in line
    assert "not counted" in cost._warmup_line(cost.project(cpu, bare).attrs)
    with pytest.raises(ValueError, match="warmup_s = -1 must be > 0"):
        cost.rates_from_dict(flat_rates(warmup_s=-1))


def test_totals_add_up(cpu):
    frame = cost.project(cpu, cost.rates_from_dict(flat_rates()))
    assert list(frame.columns) == cost.PROJECTION_COLUMNS
    stages = frame[~frame["stage"].eq("total")]
    totals = frame[frame["stage"].eq("total") & ~frame["family"].eq("all")].set_index("family")
    assert list(totals.index) == list(FAMILIES)
    for col in ("models", "candidates", "images_trained_M", "hours", "checkpoints_GB"):
        assert totals[col].to_dict() == pytest.approx(stages.groupby("family")[col].sum().to_dict())
        overall = frame[frame["family"].eq("all")][col].item()
        assert overall == pytest.approx(totals[col].sum())
    # 205 models: uniform 12 + 6 + 9 + 15 + 15, supernets 5, proxy 5 x 16, retrain 3 x 9 + 2 x 18
    assert frame[frame["family"].eq("all")]["models"].item() == 57 + 5 + 80 + 63 == 205
    assert frame[frame["family"].eq("all")]["images_trained_M"].item() == pytest.approx(
        (57 * 2 * 5000 + 5 * 4 * 5000 + 3 * 16 * 2000 + 2 * 16 * 2 * 4000 + 63 * 2 * 5000) / 1e6)


def test_paper_costs_and_comparison(cpu):
    papers = cost.paper_costs().set_index("family")["gpu_hours"].to_dict()
    assert papers == {"mobilenet_m1": 30, "mobilenet_m2": 32, "mobilenet_m3": 26,
                      "vgg_small": 96, "resnet18": 1440}
    table2 = next(r for r in paper_values.PHAN_TABLE2 if r.key == "search_hours").values
    assert {f: float(v) for f, v in table2.items()} == {f: papers[f] for f in table2}
    frame = cost.project(cpu, cost.rates_from_dict(flat_rates()))
    comp = cost.compare_search(frame).set_index("family")
    hours = frame.set_index(["family", "stage"])["hours"]
    for family in FAMILIES:
        both = hours[family, "supernet"] + hours[family, "search"]
        assert comp.loc[family, "ours_supernet_search_h"] == pytest.approx(both)
        assert comp.loc[family, "ours_over_paper"] == pytest.approx(both / papers[family])
    assert set(comp["ours_device"]) == {"Test GPU"}


# ---- command line -----------------------------------------------------------------------------

def test_cli_prints_every_family(tmp_path, capsys):
    rates = tmp_path / "rates.json"
    rates.write_text(json.dumps({**flat_rates(), "source": "a test"}))
    out = tmp_path / "out" / "cost.json"
    assert cost.main(["--params", str(CPU), "--rates", str(rates), "--json", str(out)]) == 0
    text = capsys.readouterr().out
    for family in FAMILIES:
        assert f"| {family} | uniform |" in text
        paper = "Phan et al. 2020" if family.startswith("mobilenet") else "Shen et al. 2019"
        assert f"| {family} | {paper} |" in text
    assert "Test GPU" in text and "| **all** | **total** |" in text
    written = json.loads(out.read_text())
    assert written["device"] == "Test GPU" and written["profile"] == "cpu"
    assert {r["family"] for r in written["rows"]} == set(FAMILIES) | {"all"}
    assert len(written["search_comparison"]) == 5 and written["work"]


def test_cli_error_names_the_profile(tmp_path, capsys):
    rates = tmp_path / "rates.json"
    rates.write_text(json.dumps(flat_rates()))
    assert cost.main(["--params", str(CPU), "--rates", str(rates), "--profile", "paper"]) == 1
    assert "no profile 'paper'" in capsys.readouterr().err

"""The stages: every persisted item is a pure function of what determines it.

Each test reruns a stage after changing one thing that determines an item (a budget, a model
keyword, the data, the supernet weights) and checks that exactly that item starts over, saying
why, and that the result matches the new settings; or that a corrupt file costs only itself.
Tiny sizes (64 Fashion-MNIST images, one epoch) keep each run to seconds.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from bnnlib import models, settings
from bnnlib.genome import random_draws, random_near
from bnnlib.stages import common, retrain, search, supernet, uniform
from bnnlib.stages.common import StaleUpstreamError

ROOT = Path(__file__).resolve().parents[1]
TINY = {"data.val_size": 64, "data.train_subset": 64, "data.test_subset": 50,
        "groups.model.width_mult": 0.25, "groups.search.calib_images": 32,
        "groups.search.val_images": 32, "widths.search.calib_images": 32,
        "widths.search.val_images": 32}


@pytest.fixture
def study(tmp_path):
    """``view(stage, family, **overrides)`` on the smoke profile at tiny sizes, under tmp_path."""
    if not Path("/usr/share/datasets/fashion-mnist").exists() and not (ROOT / "data/raw").exists():
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    shutil.copy(ROOT / "profiles/smoke.yaml", tmp_path / "params.yaml")
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    data = ROOT / "data/raw/fashion_mnist"
    if data.exists():
        shutil.copytree(data, tmp_path / "data/raw/fashion_mnist")

    def view(stage, family, **overrides):
        return settings.view(stage, family, "params.yaml", {**TINY, **overrides}, root=tmp_path)

    return view


def log_of(capsys) -> str:
    return capsys.readouterr().out


# ---- training items ---------------------------------------------------------------------------

def test_a_finished_model_is_reused_and_a_changed_one_starts_over(study, capsys):
    first = common.train_item(study("uniform", "resnet18"), "uniform", "uniform1x", {"expansion": 1.0}, 0)
    again = common.train_item(study("uniform", "resnet18"), "uniform", "uniform1x", {"expansion": 1.0}, 0)
    assert "resumed from" in log_of(capsys) and again["weights"] == first["weights"]
    for change, reason in [
        ({"small_input": True}, "model.build_kwargs.small_input true != false"),
        ({"data_seed": 1}, "data.train.indices"),
        ({"val_size": 80}, "data.train"),
        ({"epochs": 2}, "recipe.epochs 2 != 1"),
    ]:
        result = common.train_item(study("uniform", "resnet18", **change), "uniform", "uniform1x",
                                   {"expansion": 1.0}, 0)
        out = log_of(capsys)
        assert "[" in out and "starting over: " in out and reason in out, (change, out)
        assert "resumed from" not in out
        assert result["weights"] != first["weights"]
        assert result["settings"][next(iter(change))] == next(iter(change.values()))
        common.train_item(study("uniform", "resnet18"), "uniform", "uniform1x", {"expansion": 1.0}, 0)
        log_of(capsys)


def test_other_data_of_the_same_size_starts_training_over(study, tmp_path, capsys):
    """Another copy of the data with one label changed: same sizes, same settings. Its folder
    has a space in its name (no command line is built from settings any more)."""
    common.train_item(study("uniform", "vgg_small"), "uniform", "uniform1x", {"expansion": 1.0}, 0)
    log_of(capsys)
    from bnnlib.fashion_mnist import locate, read_idx

    source = locate(tmp_path / "data/raw", download=False)
    other = tmp_path / "other data/fashion_mnist"
    other.mkdir(parents=True)
    for path in source.values():
        shutil.copy(path, other / path.name)
    labels = read_idx(other / source["train_labels"].name)
    changed = labels.copy()
    changed[0] = (changed[0] + 1) % 10
    import gzip

    raw = bytes([0, 0, 8, 1]) + len(changed).to_bytes(4, "big") + changed.tobytes()
    target = other / "train-labels-idx1-ubyte.gz"
    (other / source["train_labels"].name).unlink()
    with gzip.open(target, "wb") as fh:
        fh.write(raw)
    common.train_item(study("uniform", "vgg_small", data_root="other data"), "uniform",
                      "uniform1x", {"expansion": 1.0}, 0)
    assert "starting over: data.train" in log_of(capsys)


def test_a_finished_item_keeps_its_final_checkpoint_only(study, capsys):
    """A finished item's last.pt is its final checkpoint (weights, no optimizer state) and no
    best.pt is kept; rerun, it resumes finished; corrupt, it costs only itself (retrained)."""
    import torch

    from bnnlib.utils import load_checksummed

    s = study("uniform", "vgg_small", epochs=2)
    first = common.train_item(s, "uniform", "uniform1x", {"expansion": 1.0}, 0)
    item = s.runs_dir / "uniform/vgg_small/uniform1x/seed0"
    assert {p.name for p in item.iterdir()} == {"history.json", "last.pt", "live", "result.json"}
    saved = load_checksummed(item / "last.pt")
    assert saved["final"] and saved["optimizer"] is None and saved["epoch"] == 2
    before = (item / "last.pt").read_bytes()
    log_of(capsys)
    again = common.train_item(s, "uniform", "uniform1x", {"expansion": 1.0}, 0)
    assert "resumed from" in log_of(capsys) and again["weights"] == first["weights"]
    assert (item / "last.pt").read_bytes() == before  # not rewritten
    (item / "last.pt").write_bytes(b"truncated")
    with pytest.warns(RuntimeWarning, match=r"last.pt is not a bnnlib checkpoint"):
        third = common.train_item(s, "uniform", "uniform1x", {"expansion": 1.0}, 0)
    assert "resumed from" not in log_of(capsys)  # nothing to resume from: trained again
    assert third["weights"] == first["weights"] and third["test_top1"] == first["test_top1"]
    assert {p.name for p in item.iterdir()} == {"history.json", "last.pt", "last.pt.corrupt",
                                                "live", "result.json"}
    retrained = load_checksummed(item / "last.pt")["model"]
    assert all(torch.equal(retrained[k], v) for k, v in saved["model"].items())


# ---- supernets and searches ---------------------------------------------------------------------

def test_lowering_the_budget_restarts_the_search_within_the_new_budget(study, capsys):
    supernet.run(study("supernet", "mobilenet_m1"))
    first = search.run(study("search", "mobilenet_m1", budget_position=0.6))
    lower = 0.5 * (first[0]["max_ops"] + min(r["best_ops"] for r in first))
    log_of(capsys)
    again = search.run(study("search", "mobilenet_m1", max_ops=lower))
    out = log_of(capsys)
    assert f"evolution/seed0] starting over: fitness.max_ops {lower:.10g} != {first[0]['max_ops']:.10g} in state" in out
    assert f"random/seed0] starting over: fitness.max_ops {lower:.10g}" in out
    for record in again:
        assert record["best_ops"] <= lower and record["max_ops"] == pytest.approx(lower)
    # the same settings again: both searches resume their finished states, and report the
    # whole search's cost (its log's scoring seconds), not the seconds of the resuming call
    resumed = search.run(study("search", "mobilenet_m1", max_ops=lower))
    assert "starting over" not in log_of(capsys)
    for before, after in zip(again, resumed, strict=True):
        log = study("search", "mobilenet_m1").runs_dir / "search/mobilenet_m1" / before["method"] / "seed0/log.jsonl"
        scored = [json.loads(line)["seconds"] for line in log.read_text().splitlines()]
        assert len(scored) == before["evaluations"]
        assert after["search_seconds"] == before["search_seconds"] == pytest.approx(sum(scored))
        assert after["wall_seconds"] >= 0  # the resuming call's own time, kept beside it
    # the scorer's images are part of the state too
    search.run(study("search", "mobilenet_m1", max_ops=lower, val_images=16))
    assert "evaluator.val_images 16 != 32" in log_of(capsys)


def test_a_retrained_supernet_restarts_the_search(study, capsys):
    supernet.run(study("supernet", "vgg_small"))
    search.run(study("search", "vgg_small"))
    retrained = supernet.run(study("supernet", "vgg_small", lr=0.002))  # same construction
    log_of(capsys)
    search.run(study("search", "vgg_small"))
    out = log_of(capsys)
    assert out.count("starting over: supernet ") == 4, out  # evolution/random of both trade-offs
    state = study("search", "vgg_small").runs_dir / "search/vgg_small/evolution_a/seed0/state.json"
    assert json.loads(state.read_text())["context"]["supernet"] == retrained["weights"]


def test_a_truncated_search_state_restarts_that_search(study, capsys):
    supernet.run(study("supernet", "mobilenet_m3"))
    first = search.run(study("search", "mobilenet_m3"))
    path = study("search", "mobilenet_m3").runs_dir / "search/mobilenet_m3/evolution/seed0/state.json"
    path.write_text(path.read_text()[:100])
    log_of(capsys)
    again = search.run(study("search", "mobilenet_m3"))
    out = log_of(capsys)
    assert "search/mobilenet_m3/evolution/seed0] starting over:" in out and "state.json" in out
    assert "random] starting over" not in out
    assert [r["best"] for r in again] == [r["best"] for r in first]  # deterministic rerun


def test_search_refuses_a_supernet_of_other_settings(study):
    supernet.run(study("supernet", "vgg_small"))
    with pytest.raises(StaleUpstreamError, match=r"model.model.width_mult 0.125 != 0.0625.*supernet_widths@vgg_small"):
        search.run(study("search", "vgg_small", width_mult=0.125))
    with pytest.raises(StaleUpstreamError, match=r"data.indices"):
        search.run(study("search", "vgg_small", data_seed=2))
    with pytest.raises(FileNotFoundError, match="run stage 02"):
        search.run(study("search", "resnet18"))


def test_the_supernet_keeps_one_copy_of_its_weights_and_checks_it(study):
    """supernet.pt records the supernet (construction, data, weights' digest) and takes the
    weights from the final last.pt beside it: a last.pt of other weights is refused, a missing
    one named, and a supernet.pt of earlier versions (weights inside) still loads."""
    from bnnlib.utils import load_checksummed, save_checksummed

    cfg = study("supernet", "vgg_small")
    trained = supernet.run(cfg)
    folder = cfg.runs_dir / "supernet/vgg_small"
    record = load_checksummed(folder / "supernet.pt")
    assert "state_dict" not in record and record["checkpoint"] == "last.pt"
    weights = sum(t.numel() * t.element_size() for t in supernet.build(cfg).state_dict().values())
    assert (folder / "supernet.pt").stat().st_size < 0.05 * weights  # no second copy
    view = study("search", "vgg_small")
    net, digest = supernet.load(view)
    last = load_checksummed(folder / "last.pt")
    assert digest == trained["weights"] == common.weights_digest(net)
    assert all(torch.equal(net.state_dict()[k], v) for k, v in last["model"].items())

    changed = {k: (v + 1 if v.is_floating_point() else v) for k, v in last["model"].items()}
    save_checksummed({**last, "model": changed}, folder / "last.pt")
    with pytest.raises(StaleUpstreamError, match=r"last.pt holds other weights .*than .*supernet.pt "
                                                 r"recorded.*supernet_widths@vgg_small"):
        supernet.load(view)
    save_checksummed({**record, "state_dict": net.state_dict()}, folder / "supernet.pt")
    assert supernet.load(view)[1] == digest  # an earlier version's supernet.pt: its own weights
    save_checksummed(record, folder / "supernet.pt")
    (folder / "last.pt").unlink()
    with pytest.raises(FileNotFoundError, match=r"last.pt does not exist.*supernet_widths@vgg_small"):
        supernet.load(view)


def test_retrain_refuses_a_search_of_other_settings(study):
    supernet.run(study("supernet", "mobilenet_m2"))
    search.run(study("search", "mobilenet_m2"))
    with pytest.raises(StaleUpstreamError, match=r"model_kwargs.small_input true != false.*search_groups@mobilenet_m2"):
        retrain.items(study("retrain", "mobilenet_m2", small_input=True))
    cfg = study("retrain", "mobilenet_m2", seeds=[0, 1])
    items = retrain.items(cfg)
    assert [it.variant for it in items] == ["searched", "random_search", "random", "random"]
    assert [it.seeds for it in items] == [[0, 1], [0, 1], [0], [1]]
    assert {it.epochs for it in items} == {None}  # the stage's epochs
    best = search.run(study("search", "mobilenet_m2"))[0]
    for it in items:  # every model within the budget, each random draw its own
        assert len(it.genome) == 18 and retrain.genome_ops(cfg, it.genome) <= best["max_ops"]
    assert items[2].genome != items[3].genome


def test_figure5_runs_are_the_same_genomes_trained_for_their_own_epochs(study):
    """Phan et al. trained Fig. 5's random-vs-searched runs 100 epochs apart from the 256-epoch
    final models: with groups.epochs.fig5 set, the searched genome and the same random draws
    are trained again for that many epochs, and Figure 5 and its claims read them."""
    supernet.run(study("supernet", "mobilenet_m3"))
    search.run(study("search", "mobilenet_m3"))
    base = retrain.items(study("retrain", "mobilenet_m3", seeds=[0, 1]))
    assert retrain.items(study("retrain", "mobilenet_m3", seeds=[0, 1], fig5_epochs=1)) == base  # = epochs
    cfg = study("retrain", "mobilenet_m3", seeds=[0, 1], epochs=2, fig5_epochs=1)
    items = retrain.items(cfg)
    assert items[:len(base)] == base
    fig5 = items[len(base):]
    assert [(it.variant, it.seeds, it.epochs) for it in fig5] == [
        ("fig5_searched", [0, 1], 1), ("fig5_random", [0], 1), ("fig5_random", [1], 1)]
    by_variant = {(it.variant, tuple(it.seeds)): it.genome for it in base}
    for it in fig5:
        assert it.genome == by_variant[(it.variant.removeprefix("fig5_"), tuple(it.seeds))]
    record = common.train_item(cfg, "retrain", "fig5_searched",
                               models.genome_kwargs("mobilenet_m3", fig5[0].genome), 0, epochs=1)
    assert record["epochs"] == 1 and len(record["history"]) == 1


def test_trainings_in_several_processes_write_what_one_process_writes(study, tmp_path, capsys):
    """``jobs`` changes how long a stage takes, never what it writes: the same weights, test
    accuracy and history with 2 processes as with 1, every training's log reaches this one,
    and each process builds the proxy stage's data subsets itself (``data=proxy_data``)."""
    from bnnlib.stages import proxy

    trainings = [common.Training("uniform1x", {"expansion": 1.0}, 0),
                 common.Training("uniform2x", {"expansion": 2.0}, 0, epochs=2),
                 common.Training("uniform1x", {"expansion": 1.0}, 1)]
    results, threads = {}, torch.get_num_threads()
    torch.set_num_threads(1)  # the processes' threads (on a CPU, sums in another order differ)
    try:
        for jobs in (1, 2):
            cfg = study("proxy", "vgg_small", train_images=32, test_images=20, jobs=jobs)
            cfg = dataclasses.replace(cfg, runs_dir=tmp_path / f"runs{jobs}")
            results[jobs] = common.train_items(cfg, "proxy", trainings, data=proxy.proxy_data)
    finally:
        torch.set_num_threads(threads)
    log = log_of(capsys)
    assert "3 trainings, 2 at once" in log and log.count("test top-1") == 6
    keep = ("variant", "seed", "weights", "test_top1", "test_loss", "epochs", "ops", "test_images")
    assert [{k: r[k] for k in keep} for r in results[2]] == [{k: r[k] for k in keep} for r in results[1]]
    assert [r["epochs"] for r in results[2]] == [1, 2, 1]
    assert [r["test_images"] for r in results[2]] == [20, 20, 20]  # the proxy's test subset
    for one, two in zip(results[1], results[2], strict=True):
        assert [h["train_loss"] for h in two["history"]] == [h["train_loss"] for h in one["history"]]
    assert (tmp_path / "runs2/proxy/vgg_small/uniform2x/seed0/result.json").exists()


@pytest.mark.parametrize("overrides", [{}, {"max_groups": 8}])
def test_default_budget_when_16_groups_is_not_a_candidate(study, overrides, capsys):
    """Width 0.25 leaves 8 channels in block 1 (16 groups impossible); max_groups=8 caps all."""
    s = study("search", "mobilenet_m1", **overrides)
    sn = supernet.build(s)
    sparse = search.sparse_genome(sn.choices)
    assert sparse[0] == 8 and all(g <= 16 for g in sparse)
    max_ops = search.budget(s, sn)
    dense = sn.ops([1] * len(sn.choices), (1, 28, 28))
    assert sn.ops(sparse, (1, 28, 28)) < max_ops < dense
    assert "budget reference: groups [8" in log_of(capsys)
    assert search.budget(study("search", "mobilenet_m1", max_ops=123.0), sn) == 123.0


# ---- small pieces -----------------------------------------------------------------------------

def test_uniform_rows_follow_the_papers():
    assert uniform.variants("mobilenet_m2", "groups") == ["groups4", "groups16"]
    assert uniform.variants("vgg_small", "widths") == ["fp", "uniform1x", "uniform2x", "uniform3x", "uniform4x"]
    assert uniform.variant_kwargs("mobilenet_m2", "groups", "groups4") == {"groups": 4, "real_groups": 4}
    with pytest.raises(ValueError, match="groups1, groups4, groups16"):
        uniform.variant_kwargs("mobilenet_m1", "groups", "groups8")


def test_random_draws_are_seeded_distinct_and_accepted():
    choices = [[1, 2, 4], [1, 3], [1, 2, 4, 8]]
    accept = lambda g: sum(g) <= 8  # noqa: E731
    a = random_draws(choices, accept, np.random.default_rng(0), 4)
    assert a == random_draws(choices, accept, np.random.default_rng(0), 4)
    assert len(set(a)) == 4 and all(accept(g) and all(x in c for x, c in zip(g, choices, strict=True))
                                    for g in a)
    with pytest.raises(ValueError, match="found only 1 of 2 genomes in 50 random draws"):
        random_draws(choices, lambda g: g == (1, 1, 1), np.random.default_rng(0), 2, max_tries=50)


def test_random_near_reaches_a_tail_target_that_rejection_would_miss():
    choices = [[0.25, 0.5, 1.0, 2.0, 3.0, 4.0]] * 8
    ops = sum  # cost rises with each ratio
    target = 2.6  # near the cheapest genome (2.0): about 1 in 1e5 uniform draws is within 5%
    for seed in range(5):
        genome = random_near(choices, ops, target, 0.05, np.random.default_rng(seed))
        assert abs(ops(genome) / target - 1) <= 0.05 and all(g in c for g, c in zip(genome, choices, strict=True))
    with pytest.raises(ValueError, match="found only 0 of 1 genomes in 500 random draws"):
        random_draws(choices, lambda g: abs(ops(g) / target - 1) <= 0.05, np.random.default_rng(0), 1,
                     max_tries=500)


def test_cached_accuracy_evaluates_each_genome_once():
    calls = []
    acc = search.CachedAccuracy(lambda g: calls.append(tuple(g)) or 0.5)
    assert acc((1, 2)) == acc([1, 2]) == 0.5 and calls == [(1, 2)]


def test_notebooks_have_a_tagged_parameters_cell_and_no_outputs():
    import nbformat

    from bnnlib.notebook import parameter_names

    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, path.name
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), path.name
        names = set(parameter_names(path))
        defaults = {}
        exec(tagged[0].source, {}, defaults)  # noqa: S102 - our own notebook's parameters cell
        # hand runs write outside the pipeline's DVC-owned runs/, metrics/ and reports/
        for key in ("runs_dir", "metrics_dir", "reports_dir"):
            if key in defaults and not (key == "runs_dir" and path.stem == "05_tables"):
                assert defaults[key].startswith("scratch/"), (path.name, key)
        if settings.NOTEBOOKS[path.stem] == "tables":
            assert names == {"runs_dir", "reports_dir"}
        else:
            assert {"family", "params_file", "overrides", "runs_dir", "metrics_dir"} <= names
            assert names <= set(settings.NOTEBOOK_PARAMETERS), path.name
            assert not names & set(settings.stage_keys("search", "vgg_small")), "no second copy of the settings"


def test_runner_checks_parameters_before_any_kernel_starts(tmp_path):
    from bnnlib.notebook import check

    nb = ROOT / "notebooks/03_search.ipynb"
    check(nb, {"family": "vgg_small", "population": 8})
    with pytest.raises(settings.SettingsError, match=r"unknown parameter 'populaton' for 03_search.ipynb \(did you mean 'population'\?\)"):
        check(nb, {"family": "vgg_small", "populaton": 8})
    with pytest.raises(settings.SettingsError, match=r"widths.search.population = 'eight' is not an integer"):
        check(nb, {"family": "vgg_small", "population": "eight"})
    with pytest.raises(settings.SettingsError, match=r"unknown family 'vgg'"):
        check(nb, {"family": "vgg"})
    with pytest.raises(settings.SettingsError, match=r"unknown parameter 'family' for 05_tables.ipynb"):
        check(ROOT / "notebooks/05_tables.ipynb", {"family": "vgg_small"})


def test_runner_validates_notebooks_without_the_iri_grammar():
    """The runner's lean imports: nbformat still validates every notebook (and refuses a bad
    one) with ``rfc3987_syntax`` kept out of the process."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from bnnlib import notebook\n"
        "notebook._lean_imports()\n"
        "import nbformat\n"
        "for path in sys.argv[1:]:\n"
        "    nbformat.validate(nbformat.read(path, as_version=4))\n"
        "nb = nbformat.read(sys.argv[1], as_version=4)\n"
        "nb.cells[0]['cell_type'] = 'bogus'\n"
        "try:\n"
        "    nbformat.validate(nb)\n"
        "except nbformat.ValidationError:\n"
        "    print('refused')\n"
        "print(sys.modules['rfc3987_syntax'])\n")
    paths = [str(p) for p in sorted((ROOT / "notebooks").glob("*.ipynb"))]
    out = subprocess.run([sys.executable, "-c", code, *paths], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout.split()
    assert out == ["refused", "None"]


def test_search_per_class_is_what_the_supernet_and_search_train_on(study):
    """Shen et al.'s class-balanced search subset: the widths supernet, search and proxy scoring
    read ``search_per_class`` (the retrain stage too, to check its upstream); the final models
    and the groups study train on the whole training split."""
    from bnnlib.data import dataset_targets

    per_class = {"widths.families.vgg_small.search_per_class": 3}
    for stage in ("supernet", "search", "proxy", "retrain"):
        assert "search_per_class" in settings.stage_keys(stage, "vgg_small")
    assert "search_per_class" not in settings.stage_keys("uniform", "vgg_small")
    assert "search_per_class" not in settings.stage_keys("supernet", "mobilenet_m1")
    cfg = study("supernet", "vgg_small", **per_class)
    subset = common.datasets(cfg, search=True)[0]
    assert len(subset) == 30  # 3 images of each of the 10 classes
    assert sorted(dataset_targets(subset).bincount().tolist()) == [3] * 10
    assert len(common.datasets(cfg)[0]) == 64  # the final models' training split
    assert len(common.datasets(study("supernet", "vgg_small"), search=True)[0]) == 64


def test_how_grouped_convolutions_run_while_scored_is_part_of_the_search_identity(study):
    """group_conv (the same scores up to the order of the sums) reaches the evaluator and the
    search state's identity, and the proxy stage, which scores with the same evaluator, reads it."""
    for mode in ("grouped", "dense"):
        cfg = study("search", "mobilenet_m3", **{"groups.search.group_conv": mode})
        acc, identity = search.make_evaluator(cfg, supernet.build(cfg))
        assert identity["group_conv"] == mode and acc.evaluate_fn.group_conv == mode
    assert settings.stage_keys("proxy", "mobilenet_m1")["group_conv"] == "groups.search.group_conv"
    assert "group_conv" not in settings.stage_keys("proxy", "vgg_small")
    with pytest.raises(settings.SettingsError, match="group_conv"):
        study("search", "mobilenet_m3", **{"groups.search.group_conv": "blocks"})


def test_the_fine_tuning_recipe_of_candidates_comes_from_the_settings(study):
    """Shen et al. do not give their candidates' fine-tuning recipe; ours is in the settings
    (not in code), and it is part of the search state's identity."""
    cfg = study("search", "vgg_small", **{"widths.search.finetune_epochs": 1,
                                          "widths.search.finetune_optimizer": "adam",
                                          "widths.search.finetune_lr": 0.005,
                                          "widths.search.finetune_schedule": "linear",
                                          "widths.search.finetune_batch_size": 16})
    _, identity = search.make_evaluator(cfg, supernet.build(cfg))
    assert identity["kind"] == "finetune" and identity["batch_size"] == 16
    assert identity["recipe"] == {"optimizer": "adam", "lr": 0.005, "schedule": "linear"}
    proxy_keys = settings.stage_keys("proxy", "vgg_small")
    assert {"finetune_lr", "finetune_optimizer", "finetune_schedule",
            "finetune_batch_size"} <= set(proxy_keys)  # the proxy scores with the same evaluator


def test_activation_scaling_builds_scaled_binary_activations(study):
    from bnnlib import flops, models

    on = study("uniform", "mobilenet_m1", **{"groups.model.activation_scaling": True})
    off = study("uniform", "mobilenet_m1")
    assert common.model_kwargs(on)["act_quantizer"] == "approx_sign_scaled"
    assert "act_quantizer" not in common.model_kwargs(off)  # other runs keep their identity
    model = models.build("mobilenet_m1", groups=4, **common.model_kwargs(on))
    quantizers = {m.input_quantizer for m in model.modules() if hasattr(m, "input_quantizer")}
    assert "approx_sign_scaled" in quantizers
    plain = models.build("mobilenet_m1", groups=4, **common.model_kwargs(off))
    a, b = flops.count(model, (1, 28, 28)), flops.count(plain, (1, 28, 28))
    assert (a.binary_macs, a.fp_macs) == (b.binary_macs, b.fp_macs)  # still XNOR-popcounts
    sn = supernet.build(study("supernet", "mobilenet_m1", **{"groups.model.activation_scaling": True}))
    assert any(getattr(m, "input_quantizer", None) == "approx_sign_scaled" for m in sn.modules())

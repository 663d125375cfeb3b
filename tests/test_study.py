"""Stage helpers of bnnlib.study: parameters from papermill, uniform rows, budgets, genomes."""

import json
from pathlib import Path

import pytest

from bnnlib import study, supernet


def test_papermill_strings_are_read_back():
    s = study.Settings.from_namespace({"small_input": "false", "progress": "true", "max_ops": "None",
                                       "budget_position": "null", "lr": 0.001, "In": [], "junk": 1})
    assert s == {"small_input": False, "progress": True, "max_ops": None, "budget_position": None, "lr": 0.001}


def test_uniform_rows_follow_the_papers():
    assert list(study.UNIFORM_VARIANTS["groups"]) == ["groups1", "groups4", "groups16"]
    assert list(study.UNIFORM_VARIANTS["widths"]) == ["fp", "uniform1x", "uniform2x", "uniform3x", "uniform4x"]
    assert study.uniform_kwargs("mobilenet_m2", "groups4") == {"groups": 4, "real_groups": 4}
    assert study.uniform_kwargs("vgg_small", "fp") == {"binary": False, "expansion": 1.0}
    with pytest.raises(ValueError, match="groups1, groups4, groups16"):
        study.uniform_kwargs("mobilenet_m1", "groups8")
    with pytest.raises(ValueError, match="known: mobilenet_m1"):
        study.study_of("alexnet")


def test_budget_sits_at_the_papers_relative_position():
    s = study.Settings(family="mobilenet_m1", dataset="fashion_mnist")
    # block 1 has 8 channels at width 0.25: uniform groups 16 does not exist, say so
    narrow = supernet.build("mobilenet_m1", num_classes=10, in_channels=1, width_mult=0.25)
    with pytest.raises(ValueError, match="not a candidate"):
        study.budget_for(s, narrow)
    sn = supernet.build("mobilenet_m1", num_classes=10, in_channels=1, width_mult=0.5)
    n = len(sn.choices)
    g1, g16 = sn.ops([1] * n, (1, 28, 28)), sn.ops([16] * n, (1, 28, 28))
    expected = g16 + (1.55 - 1.50) / (2.13 - 1.50) * (g1 - g16)
    assert study.budget_for(s, sn) == pytest.approx(expected)
    assert study.budget_for(study.Settings(s, max_ops=123.0), sn) == 123.0
    assert study.budget_for(study.Settings(s, budget_position=1.0), sn) == pytest.approx(g1)


def test_random_genome_is_seeded_and_valid():
    choices = [[1, 2, 4], [1, 3], [1, 2, 4, 8]]
    a, b = study.random_genome(choices, 0), study.random_genome(choices, 0)
    assert a == b and all(g in c for g, c in zip(a, choices, strict=True))
    assert any(study.random_genome(choices, s) != a for s in range(1, 10))


def test_genome_kwargs_split_m2_real_groups():
    genome = list(range(1, 19))
    kw = study.genome_kwargs("mobilenet_m2", genome)
    assert kw["groups"] == genome[:13] and kw["real_groups"] == genome[13:]
    assert study.genome_kwargs("vgg_small", [1, 2, 3, 4, 0.5, 0.25]) == {"expansion": [1.0, 2.0, 3.0, 4.0, 0.5, 0.25]}


def test_cached_accuracy_evaluates_each_genome_once():
    calls = []
    acc = study.CachedAccuracy(lambda g: calls.append(tuple(g)) or 0.5)
    assert acc((1, 2)) == acc([1, 2]) == 0.5 and calls == [(1, 2)]


def test_kendall_table_relates_one_shot_scores_to_trained_accuracy(tmp_path):
    runs = tmp_path / "runs"
    (runs / "search/mobilenet_m3").mkdir(parents=True)
    scores = {"groups1": 0.8, "groups4": 0.6, "groups16": 0.7}
    accs = {"groups1": 0.9, "groups4": 0.7, "groups16": 0.8}  # same order -> tau = 1
    (runs / "search/mobilenet_m3/uniform_scores.json").write_text(
        json.dumps({v: {"genome": [1], "score": s} for v, s in scores.items()}))
    for v, a in accs.items():
        (runs / "uniform/mobilenet_m3" / v).mkdir(parents=True)
        (runs / "uniform/mobilenet_m3" / v / "result.json").write_text(json.dumps({"test_top1": a}))
    table = study.kendall_table(runs)
    assert table.loc[0, "kendall_tau"] == pytest.approx(1.0) and table.loc[0, "genomes"] == 3


def test_missing_upstream_result_names_the_stage(tmp_path):
    s = study.Settings(family="vgg_small", dataset="fashion_mnist", width_mult=0.0625)
    with pytest.raises(FileNotFoundError, match="stage 02"):
        study.load_supernet(s, tmp_path)
    with pytest.raises(FileNotFoundError, match="dvc repro"):
        study.read_json(tmp_path / "nothing.json")


def test_notebooks_have_a_tagged_parameters_cell_and_no_outputs():
    import nbformat

    for path in sorted(Path(__file__).resolve().parents[1].glob("notebooks/*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, path.name
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), path.name
        names = {line.split("=")[0].strip() for line in tagged[0].source.splitlines()
                 if "=" in line and not line.startswith("#")}
        unknown = names - set(study.PARAMETER_NAMES) - {"runs_dir", "reports_dir"}
        assert not unknown, f"{path.name}: parameters the stage code does not read: {unknown}"


def test_unknown_supernet_sampling_is_refused_before_any_work(tmp_path):
    s = study.Settings(family="vgg_small", dataset="fashion_mnist", supernet_sampling="sandwich")
    with pytest.raises(ValueError, match="random, largest"):
        study.run_supernet(s, tmp_path)

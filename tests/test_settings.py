"""bnnlib.settings: one declaration, strict validation, stage views, notebook parameters."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bnnlib import settings
from bnnlib.settings import SettingsError

ROOT = Path(__file__).resolve().parents[1]
PROFILES = sorted((ROOT / "profiles").glob("*.yaml"))


def leaves(cls, prefix=""):
    """Every dotted key the declaration has (families of the default tree)."""
    out = set()
    for key, value in settings.to_dict(cls()).items():
        out |= _leaves(value, f"{prefix}{key}")
    return out


def _leaves(value, key):
    if isinstance(value, dict):
        return set().union(*(_leaves(v, f"{key}.{k}") for k, v in value.items()))
    return {key}


def yaml_leaves(path):
    return _leaves(settings.read_yaml(path), "")  # keys start with "."


@pytest.mark.parametrize("path", [ROOT / "params.yaml", *PROFILES], ids=lambda p: p.name)
def test_every_profile_is_valid_and_sets_every_setting(path):
    params = settings.load(path)
    declared = {f".{k}" for k in leaves(settings.Params)}
    assert yaml_leaves(path) == declared, "a profile spells out every setting"
    assert params.profile == (path.stem if path.name != "params.yaml" else "cpu")


def test_params_yaml_is_the_cpu_profile():
    assert settings.read_yaml(ROOT / "params.yaml") == settings.read_yaml(ROOT / "profiles/cpu.yaml")


def test_every_setting_has_a_type_and_a_comment():
    lines = settings.describe_settings()
    generic = {".".join("<family>" if p in settings.FAMILIES else p for p in k.split("."))
               for k in leaves(settings.Params)}
    assert {line.split(" (")[0] for line in lines} == generic
    for line in lines:
        key, _, comment = line.partition(": ")
        assert " = " in key and len(comment) > 10, line


@pytest.mark.parametrize("raw, message", [
    ({"groups": {"search": {"populaton": 4}}},
     r"unknown key groups.search.populaton \(did you mean 'population'\?\); valid keys of groups.search: population"),
    ({"foo": 1}, r"unknown key foo; valid keys: profile, seed"),
    ({"groups": {"model": {"small_input": "no"}}}, r"groups.model.small_input = 'no' is not true or false"),
    ({"groups": {"model": {"small_input": 1}}}, r"groups.model.small_input = 1 is not true or false"),
    ({"groups": {"epochs": {"uniform": "three"}}}, r"groups.epochs.uniform = 'three' is not an integer"),
    ({"groups": {"epochs": {"uniform": 2.5}}}, r"groups.epochs.uniform = 2.5 is not an integer"),
    ({"groups": {"epochs": {"uniform": 0}}}, r"groups.epochs.uniform = 0 is out of range: must be >= 1"),
    ({"groups": {"epochs": {"uniform": True}}}, r"groups.epochs.uniform = True is not an integer"),
    ({"widths": {"families": {"vgg_small": {"train": {"optimizer": "adamw"}}}}},
     r"widths.families.vgg_small.train.optimizer = 'adamw' is not one of adam, sgd"),
    ({"widths": {"families": {"resnet18": {"train": {"lr": 0}}}}},
     r"widths.families.resnet18.train.lr = 0.0 is out of range: must be > 0"),
    ({"widths": {"train": {"lr": 0.1}}},
     r"unknown key widths.train; valid keys of widths: families, supernet_sampling"),
    ({"groups": {"train": {"milestones": [0, 5]}}}, r"groups.train.milestones\[0\] = 0 is out of range"),
    ({"groups": {"train": {"milestones": 30}}}, r"groups.train.milestones = 30 is not a non-empty list"),
    ({"groups": {"train": {"weight_decay": -1}}}, r"groups.train.weight_decay = -1.0 is out of range"),
    ({"widths": {"supernet_sampling": "sandwich"}}, r"supernet_sampling = 'sandwich' is not one of random, largest"),
    ({"groups": {"families": {"mobilenet_m4": {}}}},
     r"unknown family groups.families.mobilenet_m4 \(did you mean 'mobilenet_m3'\?\)"),
    ({"groups": {"families": {"mobilenet_m1": {"dataset": "mnist"}}}},
     r"groups.families.mobilenet_m1.dataset = 'mnist' is not one of fashion_mnist, cifar10, imagenet"),
    ({"groups": {"families": {"mobilenet_m1": {"max_ops": 1e6, "budget_position": 0.5}}}},
     r"set max_ops or budget_position, not both"),
    ({"widths": {"families": {"vgg_small": {"small_input": True}}}}, r"VGG-small has no stem"),
    ({"groups": {"search": {"topk": 20}}}, r"groups.search.topk = 20 exceeds population = 12"),
    ({"seeds": []}, r"seeds = \[\] is not a non-empty list of integers"),
    ({"seeds": 0}, r"seeds = 0 is not a non-empty list of integers"),
    ({"seeds": [0, 1, 0]}, r"seeds = \[0, 1, 0\] repeats a value"),
    ({"search_seeds": [0, -1]}, r"search_seeds\[1\] = -1 is out of range: must be >= 0"),
    ({"seeds": [0, "1"]}, r"seeds\[1\] = '1' is not an integer"),
    ({"data": {"val_size": None}}, r"data.val_size = None is not an integer"),
    ({"groups": "x"}, r"groups must be a mapping"),
])
def test_bad_settings_name_the_key_the_value_and_what_is_valid(raw, message):
    with pytest.raises(SettingsError, match=message):
        settings.from_dict(raw, "params.yaml")


def test_yaml_1_2_booleans_only(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text((ROOT / "params.yaml").read_text().replace(
        "model: {width_mult: 0.5, small_input: false", "model: {width_mult: 0.5, small_input: no"))
    with pytest.raises(SettingsError, match=r"params.yaml: groups.model.small_input = 'no'"):
        settings.load(path)
    path.write_text("profile: x\ngroups: {model: {small_input: [unclosed\n")
    with pytest.raises(SettingsError, match="not valid YAML"):
        settings.load(path)


def test_stage_keys_say_what_each_stage_reads():
    keys = settings.stage_keys("uniform", "mobilenet_m1")
    assert keys["epochs"] == "groups.epochs.uniform"
    assert keys["dataset"] == "groups.families.mobilenet_m1.dataset"
    assert keys["small_input"] == "groups.model.small_input"
    assert "max_ops" not in keys and "population" not in keys and "max_groups" not in keys
    search = settings.stage_keys("search", "resnet18")
    assert search["small_input"] == "widths.families.resnet18.small_input"
    assert search["lam_b"] == "widths.search.lam_b" and "epochs" not in search
    assert "test_subset" not in search  # the search never sees the test split
    assert settings.stage_keys("search", "mobilenet_m2")["max_ops"] == "groups.families.mobilenet_m2.max_ops"
    assert "progress" not in settings.tracked_keys("uniform", "vgg_small")
    with pytest.raises(SettingsError, match="unknown stage 'train'"):
        settings.stage_keys("train", "vgg_small")
    with pytest.raises(SettingsError, match=r"unknown family 'resnet' \(did you mean 'resnet18'\?\)"):
        settings.stage_keys("uniform", "resnet")


def test_view_reads_flat_names_and_takes_overrides():
    s = settings.view("uniform", "resnet18", ROOT / "params.yaml",
                      {"epochs": 5, "widths.families.resnet18.train.lr": 0.01})
    assert (s.epochs, s.lr, s.small_input, s.study) == (5, 0.01, True, "widths")
    assert s.runs_dir == ROOT / "runs" and s.upstream_dir == s.runs_dir
    with pytest.raises(AttributeError, match="has no setting 'population'; it reads: profile"):
        s.population  # noqa: B018
    with pytest.raises(SettingsError, match=r"unknown setting 'populaton' for stage search.*'population'"):
        settings.view("search", "vgg_small", ROOT / "params.yaml", {"populaton": 4})
    with pytest.raises(SettingsError, match=r"widths.search.population = 'four' is not an integer"):
        settings.view("search", "vgg_small", ROOT / "params.yaml", {"population": "four"})
    with pytest.raises(SettingsError, match=r"unknown key widths.search.populaton"):
        settings.view("search", "vgg_small", ROOT / "params.yaml", {"widths.search.populaton": 4})
    # papermill passes `-p small_input false` as the string "false": the YAML literal
    assert settings.view("uniform", "resnet18", ROOT / "params.yaml", {"small_input": "false"}).small_input is False
    with pytest.raises(SettingsError, match="'no' is not true or false"):
        settings.view("uniform", "resnet18", ROOT / "params.yaml", {"small_input": "no"})


def test_relative_paths_resolve_from_the_repository_root(monkeypatch):
    monkeypatch.chdir(ROOT / "notebooks")
    assert settings.repo_root() == ROOT
    s = settings.view("supernet", "vgg_small", "params.yaml", runs_dir="scratch/runs",
                      upstream_dir="runs")
    assert s.runs_dir == ROOT / "scratch/runs" and s.upstream_dir == ROOT / "runs"
    assert s.path(s.data_root) == ROOT / "data/raw"
    assert settings.resolve("/abs/x") == Path("/abs/x")


def test_for_notebook_refuses_unknown_injected_parameters():
    injected = '# Parameters\nfamily = "vgg_small"\nruns_dir = "runs"\npopulaton = 4\n'
    namespace = {"family": "vgg_small", "params_file": str(ROOT / "params.yaml"), "overrides": {},
                 "runs_dir": "runs", "populaton": 4, "In": ["", "family = 'x'", injected]}
    with pytest.raises(SettingsError, match=r"unknown notebook parameter 'populaton' \(did you mean 'population'\?\)"):
        settings.for_notebook(namespace, "search")
    namespace["In"][2] = injected.replace("populaton = 4", "population = 8")
    namespace.pop("populaton")
    namespace["population"] = 8
    s = settings.for_notebook(namespace, "search")
    assert s.population == 8 and s.runs_dir == ROOT / "runs"
    # without papermill (a hand run), names defined after the parameters cell are not parameters
    hand = {"family": "vgg_small", "params_file": str(ROOT / "params.yaml"), "results": [1],
            "overrides": {"iterations": 2}, "In": ["", "results = [1]"]}
    assert settings.for_notebook(hand, "search").iterations == 2


def test_check_command_names_the_bad_key(tmp_path):
    bad = tmp_path / "params.yaml"
    bad.write_text((ROOT / "params.yaml").read_text().replace("  val_size: 5000", "  val_size: 5000\n  vall_size: 1"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "bnnlib.settings", str(bad)], capture_output=True,
                          text=True, env=env)
    assert proc.returncode == 1
    assert "unknown key data.vall_size (did you mean 'val_size'?)" in proc.stderr
    ok = subprocess.run([sys.executable, "-m", "bnnlib.settings", str(ROOT / "params.yaml")],
                        capture_output=True, text=True, env=env)
    assert ok.returncode == 0 and "valid (profile cpu" in ok.stdout


@pytest.mark.parametrize("path", PROFILES, ids=lambda p: p.name)
def test_a_key_a_stage_depends_on_left_out_is_named_with_its_default(path):
    raw = settings.read_yaml(path)
    params = settings.from_dict(raw)
    keys = settings.pipeline_keys(params)
    assert settings.unspelled(raw) == {}
    # every key of dvc.yaml's params lists, for this profile's families
    assert "groups.epochs.fig5" in keys and "data.prepare" in keys
    assert {f"widths.families.{f}.search_per_class" for f in params.widths.families} <= keys
    assert "jobs" not in keys and "progress" not in keys  # untracked: they change no result
    for dotted in sorted(keys):
        head, _, last = dotted.rpartition(".")
        cut = copy.deepcopy(raw)
        node = cut
        for part in head.split(".") if head else []:
            node = node[part]
        del node[last]
        assert list(settings.unspelled(cut)) == [dotted]
        if dotted in ("data.val_size", "groups.epochs.fig5"):  # what loading fills in
            assert settings.unspelled(cut)[dotted] == settings._get(settings.Params(), dotted)


def test_check_command_refuses_a_file_that_leaves_a_pipeline_key_out(tmp_path):
    short = tmp_path / "params.yaml"
    text = (ROOT / "params.yaml").read_text()
    assert ", fig5: null}" in text
    short.write_text(text.replace(", fig5: null}", "}", 1))
    settings.load(short)  # loading alone fills the default in
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "bnnlib.settings", str(short)],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 1
    assert "leaves 1 setting(s) that pipeline stages depend on to their defaults: " \
        "groups.epochs.fig5 (default: None)" in proc.stderr


def test_declared_defaults_are_the_default_profile_and_the_library_recipe():
    """`Params()` is what plain `dvc repro` runs; fit's recipe defaults are the declared ones."""
    from bnnlib import train

    assert settings.load(ROOT / "profiles/cpu.yaml") == settings.Params()
    library = train.Recipe(epochs=1)
    for name in ("batch_size", "optimizer", "lr", "schedule"):
        assert getattr(library, name) == getattr(settings.Recipe(), name), name


def test_each_widths_family_has_the_papers_recipe_in_the_paper_profile():
    """Shen et al. train VGG-small on CIFAR-10 (200 epochs, 0.1 x0.1 at 60/120/180) and
    ResNet-18 on ImageNet (150 epochs, at 50/100/135, batch 256, weight decay 1e-4): each widths
    family reads its own recipe; the groups study keeps one (Phan et al.: Adam, batch 512)."""
    from bnnlib.stages.common import recipe

    paper = ROOT / "profiles" / "paper.yaml"
    vgg = recipe(settings.view("retrain", "vgg_small", paper, root=ROOT))
    res = recipe(settings.view("retrain", "resnet18", paper, root=ROOT))
    m1 = recipe(settings.view("retrain", "mobilenet_m1", paper, root=ROOT))
    assert (vgg.epochs, vgg.milestones, vgg.optimizer, vgg.lr) == (200, (60, 120, 180), "sgd", 0.1)
    assert (res.epochs, res.milestones, res.batch_size, res.weight_decay) == (150, (50, 100, 135), 256, 1e-4)
    assert (m1.epochs, m1.optimizer, m1.batch_size, m1.schedule) == (256, "adam", 512, "linear")
    assert settings.stage_keys("uniform", "resnet18")["lr"] == "widths.families.resnet18.train.lr"
    assert settings.stage_keys("uniform", "mobilenet_m2")["lr"] == "groups.train.lr"
